/**
 * Keeps the replay cache able to vouch for every packet the time window accepts
 * (docs/protocol.md §5). The cache remembers an accepted packet until its timestamp + max_skew,
 * and an accepted packet may be stamped up to max_skew ahead of the clock. So:
 * - a cache lost at start (no file, a corrupt or torn one, one from an earlier boot) vouches for
 *   nothing stamped before start + max_skew: those packets are refused;
 * - when max_skew grows (on reload, or across a restart: the state file records the window its
 *   entries were kept for), the live entries are kept longer by as much, and packets the cache
 *   may already have forgotten (stamped before now - the old window) are refused;
 * - that refusal ("not before") is saved with the cache, so a restart keeps it.
 * Pure but for the guard it is given: times come in as arguments.
 * @module
 */
import type { ReplayGuard } from '../../protocol/replay.js';

export class ReplayWindow {
  constructor(
    private readonly replay: ReplayGuard,
    /** The window every live entry is kept for at least (the window new ones get). */
    private skewMs: number,
    /** Packets stamped before this are refused. */
    public notBeforeMs = 0,
  ) {}

  get savedSkewMs(): number {
    return this.skewMs;
  }

  /** No cache to trust (lost, corrupt, from an earlier boot): the guard is empty. */
  lost(nowMs: number): void {
    this.notBeforeMs = Math.max(this.notBeforeMs, nowMs + this.skewMs);
  }

  /** max_skew is now `skewMs` (start with a saved cache, or reload). */
  widenTo(skewMs: number, nowMs: number): void {
    if (skewMs > this.skewMs) {
      this.replay.extend(skewMs - this.skewMs);
      this.notBeforeMs = Math.max(this.notBeforeMs, nowMs - this.skewMs);
    }
    // A narrower window: older entries are kept longer than needed, harmless; new ones for this one.
    this.skewMs = skewMs;
  }
}
