/**
 * The group's replay cache: after the local cache let a packet through, its id (key id and nonce,
 * or fwknop's digest) is claimed in Redis with SET NX PX, expiring when the packet's window ends.
 * A claim that exists is a replay, whichever gateway made it.
 *
 * When Redis cannot answer (error, timeout, not connected) an outage begins. With "refuse" every
 * knock is refused as cluster-unavailable until Redis answers again. With "local" the local cache
 * alone decides, and a packet stamped before the outage began plus the window is refused: another
 * gateway may have claimed it in Redis (a window's worth of clock ahead) without this one knowing.
 * Packets accepted during the outage are claimed in Redis once it is back (also those accepted
 * while that write-back runs: the outage ends in the turn that finds none left); one another
 * gateway had claimed meanwhile was accepted twice, and is logged. Until then such a packet can be
 * replayed at another gateway within its window: the price of "local" (docs/operations.md). A
 * probe in the background (never the packet path) finds out when Redis is back.
 * @module
 */
import type { Logger } from 'pino';
import type { RedisLink } from './connection.js';

export type ClusterClaim = 'ok' | 'replay' | 'cluster-unavailable' | 'stale-outage';

const PROBE_EVERY_MS = 1_000;
/** Claims made during an outage kept for writing back; beyond this the oldest are dropped (logged). */
const MAX_OUTAGE_CLAIMS = 100_000;

export interface ReplayClaimOptions {
  readonly link: RedisLink;
  readonly prefix: string;
  readonly onDown: 'refuse' | 'local';
  readonly log: Logger;
  readonly now: () => number;
  /** The replay window (max_skew), read per packet (a reload may widen it). */
  readonly windowMs: () => number;
}

export class ReplayClaims {
  /** When the current outage began; undefined while Redis answers. */
  private outageSince: number | undefined;
  private probe: NodeJS.Timeout | undefined;
  private readonly outageClaims = new Map<string, number>();
  private stopped = false;

  constructor(private readonly opts: ReplayClaimOptions) {}

  get down(): boolean {
    return this.outageSince !== undefined;
  }

  /** Claims `packetId` (stamped `timestampMs`) for the group. */
  async claim(packetId: string, timestampMs: number): Promise<ClusterClaim> {
    const expiresAtMs = timestampMs + this.opts.windowMs();
    if (this.outageSince === undefined) {
      try {
        const ttl = Math.max(1, expiresAtMs - this.opts.now());
        const set = await this.opts.link.call<string | null>(['SET', this.key(packetId), '1', 'NX', 'PX', String(ttl)]);
        return set === null ? 'replay' : 'ok';
      } catch (err) {
        this.beginOutage(err);
      }
    }
    return this.whileDown(packetId, timestampMs, expiresAtMs);
  }

  /** At start: a Redis not reachable yet is an outage from now. */
  start(): void {
    if (!this.opts.link.ready) this.beginOutage('not connected at start');
  }

  stop(): void {
    this.stopped = true;
    if (this.probe !== undefined) clearTimeout(this.probe);
  }

  private whileDown(packetId: string, timestampMs: number, expiresAtMs: number): ClusterClaim {
    if (this.opts.onDown === 'refuse') return 'cluster-unavailable';
    if (timestampMs < (this.outageSince as number) + this.opts.windowMs()) return 'stale-outage';
    if (this.outageClaims.size >= MAX_OUTAGE_CLAIMS) {
      const oldest = this.outageClaims.keys().next().value as string;
      this.outageClaims.delete(oldest);
    }
    this.outageClaims.set(packetId, expiresAtMs);
    return 'ok';
  }

  private key(packetId: string): string {
    return `${this.opts.prefix}:replay:${packetId}`;
  }

  private beginOutage(err: unknown): void {
    if (this.outageSince !== undefined) return;
    this.outageSince = this.opts.now();
    this.opts.log.error(
      { event: 'cluster-down', error: String((err as Error | null)?.message ?? err), onRedisDown: this.opts.onDown },
      this.opts.onDown === 'refuse'
        ? 'Redis does not answer: knocks refused (cluster-unavailable) until it does'
        : 'Redis does not answer: the local replay cache alone decides; packets stamped before now plus the window are refused',
    );
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.stopped) return;
    this.probe = setTimeout(() => void this.tryRecover(), PROBE_EVERY_MS);
  }

  private async tryRecover(): Promise<void> {
    try {
      await this.opts.link.call(['PING']);
      await this.writeBack();
    } catch {
      return this.scheduleProbe();
    }
  }

  /**
   * The claims made during the outage go to Redis, and the outage ends in the same turn as the
   * last check finds none left: a packet accepted while this runs is written back too.
   */
  private async writeBack(): Promise<void> {
    const elsewhere: string[] = [];
    while (this.outageClaims.size > 0) {
      for (const [id, expiresAtMs] of [...this.outageClaims]) {
        const now = this.opts.now();
        if (expiresAtMs > now) {
          const set = await this.opts.link.call<string | null>(['SET', this.key(id), '1', 'NX', 'PX', String(expiresAtMs - now)]);
          if (set === null) elsewhere.push(id);
        }
        this.outageClaims.delete(id);
      }
    }
    const since = this.outageSince as number;
    this.outageSince = undefined;
    if (elsewhere.length > 0)
      this.opts.log.warn(
        { event: 'cluster-claimed-elsewhere', count: elsewhere.length, packets: elsewhere.slice(0, 10) },
        'packets accepted here during the outage were claimed by another gateway too: accepted twice (a replay across gateways, or one knock sent to two)',
      );
    this.opts.log.info({ event: 'cluster-up', downMs: this.opts.now() - since }, 'Redis answers again; the group replay cache is back');
  }
}
