/**
 * Packet capture inside a lab namespace with tcpdump (Debian package tcpdump; a test that uses it
 * declares the need 'tcpdump'), for the stealth tests: what did a probe get back, did the daemon send anything. One capture window per
 * {@link Capture}: start, do things, stop, read the packets seen.
 * @module
 */
import type { TestNet } from './netns.js';
import type { NsProcess } from './process.js';

export interface CaptureOptions {
  /** Interface to capture on (a veth end of the TestNet). */
  readonly iface: string;
  /** pcap filter expression, as separate words or one string (passed as one argument). */
  readonly filter: string;
  /** Only packets this host sends ('out') or receives ('in'); default both. */
  readonly direction?: 'in' | 'out';
}

/** Packets the server sends over IPv4 or IPv6, minus IPv6 neighbour discovery (the kernel's, never the daemon's). */
export function fromHostFilter(v4: string, v6: string): string {
  return `(ip and src host ${v4}) or (ip6 and src host ${v6} and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137))`;
}

export class Capture {
  private constructor(private readonly proc: NsProcess) {}

  /** Starts tcpdump in `ns`; resolves once it is capturing. */
  static async start(net: TestNet, ns: string, opts: CaptureOptions): Promise<Capture> {
    // -n no name lookups, -l line-buffered, -p not promiscuous, -q short lines.
    const argv = ['tcpdump', '-i', opts.iface, '-n', '-l', '-p', '-q'];
    if (opts.direction !== undefined) argv.push('-Q', opts.direction);
    argv.push(opts.filter);
    const proc = net.spawnIn(ns, argv);
    await proc.waitUntil(() => (/listening on/.test(proc.stderr) ? true : undefined), 10_000, 'tcpdump to start capturing');
    return new Capture(proc);
  }

  /**
   * Stops the capture and returns one line per packet seen. Throws if the kernel dropped any
   * packet: then an empty result would prove nothing.
   */
  async stop(): Promise<string[]> {
    // Let the last packets through the ring before tcpdump flushes on SIGINT.
    await new Promise((r) => setTimeout(r, 300));
    await this.proc.stop('SIGINT', 5_000);
    const dropped = /(\d+) packets? dropped by kernel/.exec(this.proc.stderr);
    if (dropped === null) throw new Error(`tcpdump did not report its statistics:\n${this.proc.describe()}`);
    if (Number(dropped[1]) !== 0) throw new Error(`tcpdump: ${dropped[1]} packets dropped by the kernel; the capture is incomplete`);
    return this.proc.lines.filter((l) => l.trim() !== '');
  }
}
