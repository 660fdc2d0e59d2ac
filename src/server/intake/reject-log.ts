/**
 * Logs rejected packets with their reason and source, rate-limited per source and overall,
 * so a flood cannot fill a disk. What was held back is summed up once per interval.
 * @module
 */
import type { Logger } from 'pino';
import { TokenBuckets } from './token-buckets.js';

const PER_SOURCE = { capacity: 5, refillPerSec: 0.5 };
const OVERALL = { capacity: 50, refillPerSec: 20 };
const MAX_SOURCES = 10_000;
/** Distinct reasons counted per summary (the set is closed, so this only guards against a bug). */
const MAX_REASONS = 100;
export const SUMMARY_INTERVAL_MS = 10_000;

export class RejectLog {
  private readonly perSource: TokenBuckets;
  private readonly overall: TokenBuckets;
  private suppressed = new Map<string, number>();
  private suppressedTotal = 0;

  constructor(
    private readonly log: Logger,
    now: () => number,
  ) {
    this.perSource = new TokenBuckets({ ...PER_SOURCE, maxKeys: MAX_SOURCES, now });
    this.overall = new TokenBuckets({ ...OVERALL, maxKeys: 1, now });
  }

  reject(reason: string, source: string, detail?: Record<string, unknown>): void {
    if (this.perSource.take(source) && this.overall.take('')) {
      this.log.warn({ event: 'reject', reason, source, ...detail }, 'packet rejected');
      return;
    }
    this.tally(reason);
  }

  /** Counts a rejection for the next summary without logging it (floods of one kind, e.g. over-budget). */
  tally(reason: string): void {
    this.suppressedTotal++;
    if (this.suppressed.size < MAX_REASONS || this.suppressed.has(reason))
      this.suppressed.set(reason, (this.suppressed.get(reason) ?? 0) + 1);
  }

  /** Logs and resets the count of rejections held back since the last call. */
  flush(): void {
    if (this.suppressedTotal === 0) return;
    this.log.warn(
      { event: 'reject-suppressed', count: this.suppressedTotal, reasons: Object.fromEntries(this.suppressed) },
      'rejections not logged individually',
    );
    this.suppressed = new Map();
    this.suppressedTotal = 0;
  }
}
