/**
 * A firewall tool kept started ahead of need. Forking and exec'ing a tool from the daemon is most
 * of a knock's latency; a spare started between knocks waits on stdin, so a knock pays only for
 * the tool's own work. iptables-restore and nft read the kernel's ruleset only after their
 * input arrives, so a spare that waited holds no stale view (and no lock). Each spare runs once;
 * the next is started after it is done, off the knock's path. A spare that died meanwhile (or
 * could not start) is replaced by a fresh start, which reports any error as usual. One killed so
 * recently that its exit has not reached the daemon fails its batch like any tool failure (the
 * grants then repair); the daemon releases its spares before it closes grants at stop, and the
 * systemd unit signals only the daemon (KillMode=mixed), so a stop never meets one.
 * @module
 */
import { startTool, type StartedTool, type ToolResult } from './exec.js';

export class WarmTool {
  private spare: StartedTool | undefined;
  /** Keep a spare: from the first prime() (the daemon's setup) until release(). One-off commands never start one. */
  private warm = false;
  private released = false;

  constructor(readonly argv: readonly string[]) {}

  /** Runs the tool on `input` (the spare if it is ready), then starts the next spare if warm. */
  async run(input: string): Promise<ToolResult> {
    const spare = this.spare;
    this.spare = undefined;
    const tool = spare !== undefined && !spare.exited ? spare : startTool(this.argv);
    try {
      return await tool.feed(input);
    } finally {
      setImmediate(() => this.refill());
    }
  }

  /** Starts a spare if there is none, and keeps one from now on (after setup: the first knock is fast too). */
  prime(): void {
    if (this.released) return;
    this.warm = true;
    this.refill();
  }

  private refill(): void {
    if (!this.warm || (this.spare !== undefined && !this.spare.exited)) return;
    this.spare = startTool(this.argv);
  }

  /** Ends the spare and starts no more, for good (daemon stop); run still works, starting the tool each time. */
  release(): void {
    this.released = true;
    this.warm = false;
    this.spare?.kill();
    this.spare = undefined;
  }
}
