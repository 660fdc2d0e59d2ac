/**
 * How much authentication work unauthenticated traffic may cost the daemon.
 *
 * Only a packet that names a known key id gets as far as the HMAC, but key ids are visible on the
 * wire, so whoever sniffed one knock can make the daemon compute one HMAC per packet. The budget
 * limits sources only when the daemon as a whole is under pressure:
 * - the daemon-wide budget (GLOBAL_PER_SEC authentications a second) is spent by every packet;
 * - while it has tokens, every source is admitted, also one that failed recently: a spoofer who
 *   sends junk in a user's name from the user's address cannot lock the user out without sending
 *   more than the whole budget, which costs real bandwidth;
 * - once it is spent, only sources with no recent failure ("clean") are admitted: junk from
 *   others can never make the daemon drop a real user's knock, and failing sources cost a lookup.
 * Failures are counted per source (SOURCE_FAILURES, forgiven at SOURCE_REFILL_PER_SEC).
 * @module
 */
import { TokenBuckets } from './token-buckets.js';

/** What a packet refused before its HMAC is counted as (not logged one by one). */
export const OVER_BUDGET = 'over-budget';

/** What a verifier asks before a packet's first HMAC, and tells after a failed one. */
export interface AuthGate {
  admit(source: string): boolean;
  failed(source: string): void;
}

/** Failed authentications a source may have before it is no longer clean. */
export const SOURCE_FAILURES = 8;
/** Failures forgiven per second: a source that failed is clean again within 4 s. */
export const SOURCE_REFILL_PER_SEC = 2;
/** Sources remembered at once (only failing ones are); the oldest is forgotten first. */
export const MAX_SOURCES = 16_384;
/** Authentications per second, daemon-wide, beyond which sources that failed recently are refused. */
export const GLOBAL_PER_SEC = 2_000;
/**
 * Daemon-wide tokens one public-key verification takes (an SSH-key knock): a signature check costs
 * about as much as 20 HMACs (bench/README.md, "SSH-key knocks"), so failing sources get at most
 * GLOBAL_PER_SEC / 20 = 100 of them a second instead of 2,000.
 */
export const PUBLIC_KEY_COST = 20;

export interface AuthBudgetOptions {
  readonly now: () => number;
  readonly sourceFailures?: number;
  readonly sourceRefillPerSec?: number;
  readonly maxSources?: number;
  readonly globalPerSec?: number;
}

export class AuthBudget implements AuthGate {
  private readonly failures: TokenBuckets;
  private readonly global: TokenBuckets;
  private readonly clean: number;
  private readonly now: () => number;

  constructor(opts: AuthBudgetOptions) {
    this.clean = opts.sourceFailures ?? SOURCE_FAILURES;
    this.now = opts.now;
    this.failures = new TokenBuckets({
      capacity: this.clean,
      refillPerSec: opts.sourceRefillPerSec ?? SOURCE_REFILL_PER_SEC,
      maxKeys: opts.maxSources ?? MAX_SOURCES,
      now: opts.now,
    });
    const perSec = opts.globalPerSec ?? GLOBAL_PER_SEC;
    this.global = new TokenBuckets({ capacity: perSec, refillPerSec: perSec, maxKeys: 1, now: opts.now });
  }

  /** Sources with a recent failure that are remembered. */
  get size(): number {
    return this.failures.size;
  }

  /**
   * Before the HMAC (or signature): may a packet from `source` be authenticated? `cost` is the
   * daemon-wide tokens its check takes (PUBLIC_KEY_COST for a signature). Allocates nothing.
   */
  admit(source: string, cost = 1): boolean {
    // Clean sources spend the daemon-wide budget too, but are never refused.
    return this.global.take('', cost) || this.isClean(source);
  }

  /** No failed authentication from `source` recently (forgiven at SOURCE_REFILL_PER_SEC). */
  isClean(source: string): boolean {
    return this.failures.level(source) >= this.clean;
  }

  /** True if `source` failed an authentication in the last `ms` (while it is remembered). */
  failedWithin(source: string, ms: number): boolean {
    const last = this.failures.lastTakenMs(source);
    return last !== undefined && this.now() - last < ms;
  }

  /** After a packet from `source` failed authentication. */
  failed(source: string): void {
    this.failures.take(source);
  }
}

/**
 * fwknop HMAC trials allowed per second, daemon-wide. A fwknop packet costs one HMAC per fwknop user
 * (docs/protocol.md §8.3); this caps what a flood of them costs (npm run bench:fwknop gives the
 * HMAC rate), leaving room for 10,000 fwknop packets a second with one fwknop user.
 */
export const FWKNOP_TRIALS = { capacity: 10_000, refillPerSec: 10_000 } as const;
/** Trials kept for sources with no failure in the last RESERVE_FAILURE_MEMORY_MS: failing sources cannot drain the budget for everyone. */
export const FWKNOP_CLEAN_RESERVE = FWKNOP_TRIALS.capacity / 2;
/**
 * How long a failure keeps a source out of the reserve. Longer than the per-source forgiveness: a
 * junk source that paces itself to look clean between packets still stays out.
 */
export const RESERVE_FAILURE_MEMORY_MS = 60_000;

/** The daemon-wide budget of fwknop HMAC trials; made once, so a reload does not refill it. */
export class TrialBudget {
  private readonly buckets: TokenBuckets;

  constructor(now: () => number) {
    this.buckets = new TokenBuckets({ ...FWKNOP_TRIALS, maxKeys: 1, now });
  }

  /** Takes `trials` for a packet; one from a source that failed lately only while more than the reserve is left. */
  take(trials: number, mayUseReserve: boolean): boolean {
    if (!mayUseReserve && this.buckets.level('') - trials < FWKNOP_CLEAN_RESERVE) return false;
    return this.buckets.take('', trials);
  }
}
