/**
 * Per-key token buckets with a hard cap on keys (oldest evicted first) and an injected clock.
 * Used to rate-limit reject logging and authentication work per source; UDP sources can be
 * spoofed, so a bucket refills by itself and never locks anyone out for longer than
 * capacity / refill seconds.
 * @module
 */
interface Bucket {
  tokens: number;
  updatedMs: number;
}

export interface TokenBucketOptions {
  /** Tokens a fresh key starts with, and the most it can hold. */
  readonly capacity: number;
  readonly refillPerSec: number;
  /** Most keys remembered at once. */
  readonly maxKeys: number;
  readonly now: () => number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly opts: TokenBucketOptions) {}

  get size(): number {
    return this.buckets.size;
  }

  /** Tokens `key` holds now (capacity if it has no bucket), without taking one or remembering the key. */
  level(key: string): number {
    const bucket = this.buckets.get(key);
    if (bucket === undefined) return this.opts.capacity;
    return Math.min(this.opts.capacity, bucket.tokens + ((this.opts.now() - bucket.updatedMs) / 1000) * this.opts.refillPerSec);
  }

  /** When `key` last took (or tried to take) tokens, if it is remembered. */
  lastTakenMs(key: string): number | undefined {
    return this.buckets.get(key)?.updatedMs;
  }

  /** Takes `count` tokens for `key`; false (taking none) if it has fewer left. */
  take(key: string, count = 1): boolean {
    const now = this.opts.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.opts.maxKeys) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      bucket = { tokens: this.opts.capacity, updatedMs: now };
      this.buckets.set(key, bucket);
    } else {
      const refill = ((now - bucket.updatedMs) / 1000) * this.opts.refillPerSec;
      bucket.tokens = Math.min(this.opts.capacity, bucket.tokens + refill);
      bucket.updatedMs = now;
    }
    if (bucket.tokens < count) return false;
    bucket.tokens -= count;
    return true;
  }
}
