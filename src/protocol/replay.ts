/**
 * Replay guard (docs/protocol.md §5): remembers the (key id, nonce) of every authenticated packet
 * until its timestamp can no longer pass the skew check, then forgets it.
 * O(1) per packet (amortized pruning by expiry second), hard capacity, serializable.
 * When full it refuses new packets rather than forgetting live ones: failing closed is the only
 * safe choice, and only holders of a valid key can fill it.
 * @module
 */

export type ClaimResult = 'ok' | 'replay' | 'replay-cache-full';

export const REPLAY_STATE_VERSION = 1;

export interface ReplayState {
  readonly version: typeof REPLAY_STATE_VERSION;
  /** [id, expiresAtMs] pairs. */
  readonly entries: ReadonlyArray<readonly [string, number]>;
}

export class ReplayGuard {
  private readonly expiry = new Map<string, number>();
  /** Expiry second -> ids expiring in that second. */
  private readonly buckets = new Map<number, string[]>();
  /** Every bucket up to and including this second has been pruned. */
  private prunedThrough = -Infinity;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`replay capacity: expected a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.expiry.size;
  }

  /** True if `id` was claimed and has not expired at `nowMs`. */
  has(id: string, nowMs: number): boolean {
    const expiresAt = this.expiry.get(id);
    return expiresAt !== undefined && expiresAt >= nowMs;
  }

  /** Records `id` until `expiresAtMs`, unless it is already recorded (a replay) or the guard is full. */
  claim(id: string, expiresAtMs: number, nowMs: number): ClaimResult {
    this.prune(nowMs);
    const seenUntil = this.expiry.get(id);
    if (seenUntil !== undefined && seenUntil >= nowMs) return 'replay';
    if (this.expiry.size >= this.capacity) return 'replay-cache-full';
    this.insert(id, expiresAtMs);
    return 'ok';
  }

  /** Forgets every id whose expiry is before `nowMs`. */
  prune(nowMs: number): void {
    const lastFullSecond = Math.floor(nowMs / 1000) - 1;
    if (lastFullSecond <= this.prunedThrough) return;
    const span = lastFullSecond - this.prunedThrough;
    if (span > this.buckets.size) {
      // A long gap (first call, restart, clock jump): walk the buckets, not the seconds.
      for (const second of [...this.buckets.keys()]) if (second <= lastFullSecond) this.dropBucket(second);
    } else {
      for (let s = this.prunedThrough + 1; s <= lastFullSecond; s++) this.dropBucket(s);
    }
    this.prunedThrough = lastFullSecond;
  }

  toState(): ReplayState {
    return { version: REPLAY_STATE_VERSION, entries: [...this.expiry.entries()] };
  }

  /** Rebuilds a guard from saved state, dropping what has expired; throws on malformed state. */
  static fromState(state: unknown, capacity: number, nowMs: number): ReplayGuard {
    const guard = new ReplayGuard(capacity);
    const s = state as Partial<ReplayState> | null;
    if (s === null || typeof s !== 'object' || s.version !== REPLAY_STATE_VERSION || !Array.isArray(s.entries))
      throw new Error(`replay state: expected {"version": ${REPLAY_STATE_VERSION}, "entries": [...]}`);
    for (const entry of s.entries) {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || !Number.isFinite(entry[1]))
        throw new Error('replay state: expected each entry to be [id, expiresAtMs]');
      const [id, expiresAt] = entry as [string, number];
      // Keep everything live even past capacity: forgetting a live id would reopen a replay.
      if (expiresAt >= nowMs && !guard.expiry.has(id)) guard.insert(id, expiresAt);
    }
    guard.prune(nowMs);
    return guard;
  }

  private insert(id: string, expiresAtMs: number): void {
    this.expiry.set(id, expiresAtMs);
    const second = Math.floor(expiresAtMs / 1000);
    const bucket = this.buckets.get(second);
    if (bucket === undefined) this.buckets.set(second, [id]);
    else bucket.push(id);
  }

  private dropBucket(second: number): void {
    const bucket = this.buckets.get(second);
    if (bucket === undefined) return;
    for (const id of bucket) this.expiry.delete(id);
    this.buckets.delete(second);
  }
}
