/**
 * How much authentication work unauthenticated traffic may cost the daemon.
 *
 * Only a packet that names a known key id gets as far as the HMAC, but key ids are visible
 * on the wire, so whoever sniffed one knock can make the daemon compute one HMAC per packet. The
 * budget is kept per source address and counts failed authentications (any reject after the HMAC):
 * - a source with no recent failure ("clean") is always admitted, so junk from others can never
 *   make the daemon drop a real user's knock;
 * - a source that failed recently is admitted only while it has failures left of its own and the
 *   daemon-wide budget has a token; otherwise its packet is dropped before the HMAC ('over-budget').
 * Clean sources take from the daemon-wide budget too (without being refused), so unless every
 * packet comes from a fresh address the HMAC work stays under GLOBAL_PER_SEC.
 * UDP sources can be spoofed: spoofing a user's address holds that user back only while the
 * spoofing lasts plus SOURCE_FAILURES / SOURCE_REFILL_PER_SEC seconds.
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

/** Failed authentications a source may have before it is held back. */
export const SOURCE_FAILURES = 8;
/** Failures forgiven per second: an emptied source is admitted again within 0.5 s, clean within 4 s. */
export const SOURCE_REFILL_PER_SEC = 2;
/** Sources remembered at once (only failing ones are); the oldest is forgotten first. */
export const MAX_SOURCES = 16_384;
/** Authentications per second, daemon-wide, beyond which sources that failed recently are refused. */
export const GLOBAL_PER_SEC = 2_000;

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

  constructor(opts: AuthBudgetOptions) {
    this.clean = opts.sourceFailures ?? SOURCE_FAILURES;
    this.failures = new TokenBuckets({ capacity: this.clean, refillPerSec: opts.sourceRefillPerSec ?? SOURCE_REFILL_PER_SEC, maxKeys: opts.maxSources ?? MAX_SOURCES, now: opts.now });
    const perSec = opts.globalPerSec ?? GLOBAL_PER_SEC;
    this.global = new TokenBuckets({ capacity: perSec, refillPerSec: perSec, maxKeys: 1, now: opts.now });
  }

  /** Sources with a recent failure that are remembered. */
  get size(): number {
    return this.failures.size;
  }

  /** Before the HMAC: may a packet from `source` be authenticated? Allocates nothing. */
  admit(source: string): boolean {
    const left = this.failures.level(source);
    if (left >= this.clean) {
      this.global.take('');
      return true;
    }
    return left >= 1 && this.global.take('');
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

/** The daemon-wide budget of fwknop HMAC trials; made once, so a reload does not refill it. */
export class TrialBudget {
  private readonly buckets: TokenBuckets;

  constructor(now: () => number) {
    this.buckets = new TokenBuckets({ ...FWKNOP_TRIALS, maxKeys: 1, now });
  }

  take(trials: number): boolean {
    return this.buckets.take('', trials);
  }
}
