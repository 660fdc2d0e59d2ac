/**
 * Replay guard (docs/protocol.md §5): remembers the (key id, nonce) of every authenticated packet
 * until its timestamp can no longer pass the skew check, then forgets it.
 * O(1) per packet (amortized pruning by expiry second), hard capacity, serializable.
 * When full it refuses new packets rather than forgetting live ones: failing closed is the only
 * safe choice, and only holders of a valid key can fill it. A per-owner (user) quota keeps one user
 * from filling it for everyone.
 * @module
 */

export type ClaimResult = 'ok' | 'replay' | 'replay-cache-full' | 'user-over-quota';

/** Default share of the guard one key may hold: a sixteenth, at least 64 live packets. */
export function defaultPerOwner(capacity: number): number {
  return Math.max(64, Math.floor(capacity / 16));
}

interface Entry {
  readonly expiresAt: number;
  readonly owner: string | undefined;
}

export const REPLAY_STATE_VERSION = 1;

export interface ReplayState {
  readonly version: typeof REPLAY_STATE_VERSION;
  /** [id, expiresAtMs] or [id, expiresAtMs, owner]. */
  readonly entries: ReadonlyArray<readonly [string, number] | readonly [string, number, string]>;
}

export class ReplayGuard {
  private readonly expiry = new Map<string, Entry>();
  private readonly perOwnerCount = new Map<string, number>();
  /** Expiry second -> ids expiring in that second. */
  private readonly buckets = new Map<number, string[]>();
  /** Every bucket up to and including this second has been pruned. */
  private prunedThrough = -Infinity;

  constructor(
    readonly capacity: number,
    readonly perOwner: number = defaultPerOwner(capacity),
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`replay capacity: expected a positive integer, got ${capacity}`);
    if (!Number.isInteger(perOwner) || perOwner < 1)
      throw new Error(`replay per-owner quota: expected a positive integer, got ${perOwner}`);
  }

  get size(): number {
    return this.expiry.size;
  }

  /**
   * Records `id` until `expiresAtMs`, unless it is already recorded (a replay), the guard is full,
   * or `owner` (the user) already holds its quota.
   */
  claim(id: string, expiresAtMs: number, nowMs: number, owner?: string): ClaimResult {
    this.prune(nowMs);
    const seen = this.expiry.get(id);
    if (seen !== undefined && seen.expiresAt >= nowMs) return 'replay';
    if (this.expiry.size >= this.capacity) return 'replay-cache-full';
    if (owner !== undefined && (this.perOwnerCount.get(owner) ?? 0) >= this.perOwner) return 'user-over-quota';
    this.insert(id, expiresAtMs, owner);
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

  /** Keeps every entry `byMs` longer: the skew window grew, and a packet stays acceptable that much longer. */
  extend(byMs: number): void {
    if (byMs <= 0) return;
    const entries = [...this.expiry];
    this.expiry.clear();
    this.perOwnerCount.clear();
    this.buckets.clear();
    for (const [id, { expiresAt, owner }] of entries) this.insert(id, expiresAt + byMs, owner);
  }

  toState(): ReplayState {
    const entries = [...this.expiry].map(([id, { expiresAt, owner }]) =>
      owner === undefined ? ([id, expiresAt] as const) : ([id, expiresAt, owner] as const),
    );
    return { version: REPLAY_STATE_VERSION, entries };
  }

  /** Rebuilds a guard from saved state, dropping what has expired; throws on malformed state. */
  static fromState(state: unknown, capacity: number, nowMs: number, perOwner = defaultPerOwner(capacity)): ReplayGuard {
    const guard = new ReplayGuard(capacity, perOwner);
    const s = state as Partial<ReplayState> | null;
    if (s === null || typeof s !== 'object' || s.version !== REPLAY_STATE_VERSION || !Array.isArray(s.entries))
      throw new Error(`replay state: expected {"version": ${REPLAY_STATE_VERSION}, "entries": [...]}`);
    for (const entry of s.entries) {
      const ok = Array.isArray(entry) && (entry.length === 2 || (entry.length === 3 && typeof entry[2] === 'string'));
      if (!ok || typeof entry[0] !== 'string' || !Number.isFinite(entry[1]))
        throw new Error('replay state: expected each entry to be [id, expiresAtMs] or [id, expiresAtMs, owner]');
      const [id, expiresAt, owner] = entry as [string, number, string | undefined];
      // Keep everything live even past capacity: forgetting a live id would reopen a replay.
      if (expiresAt >= nowMs && !guard.expiry.has(id)) guard.insert(id, expiresAt, owner);
    }
    guard.prune(nowMs);
    return guard;
  }

  private insert(id: string, expiresAtMs: number, owner: string | undefined): void {
    this.expiry.set(id, { expiresAt: expiresAtMs, owner });
    if (owner !== undefined) this.perOwnerCount.set(owner, (this.perOwnerCount.get(owner) ?? 0) + 1);
    const second = Math.floor(expiresAtMs / 1000);
    const bucket = this.buckets.get(second);
    if (bucket === undefined) this.buckets.set(second, [id]);
    else bucket.push(id);
  }

  private dropBucket(second: number): void {
    const bucket = this.buckets.get(second);
    if (bucket === undefined) return;
    for (const id of bucket) {
      const owner = this.expiry.get(id)?.owner;
      this.expiry.delete(id);
      if (owner === undefined) continue;
      const left = (this.perOwnerCount.get(owner) ?? 1) - 1;
      if (left === 0) this.perOwnerCount.delete(owner);
      else this.perOwnerCount.set(owner, left);
    }
    this.buckets.delete(second);
  }
}
