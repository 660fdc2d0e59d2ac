/**
 * Grants shared by the group (grants = "everywhere"): each gateway appends what its knocks opened
 * and closed, and what its admin closed (`knockspa grants close`), to one Redis Stream, and reads the stream to apply the others' to its own firewall,
 * with the same deadline. A stream, not pub/sub: a gateway that reconnects goes on from the last
 * entry it read, and one that starts reads back as far as a grant can still be live. Expiry stays
 * with each gateway (its timers and sweeps). What comes from Redis is input: a grant this
 * gateway's config would not allow its user is refused and logged.
 * @module
 */
import type { Logger } from 'pino';
import type { BookEvent, GrantRequest } from '../grants/applier.js';
import type { RedisLink } from './connection.js';

/** Entries kept in the stream (approximately): far more than the live grants of any group. */
const STREAM_MAX_LEN = 100_000;
const BLOCK_MS = 2_000;
const RETRY_MS = 1_000;
const READ_COUNT = 500;

/** Why a shared close was made: a close knock, or an admin's `knockspa grants close`. */
export type SharedCloseWhy = 'knock' | 'admin';

/** One stream entry, as published. */
export interface SharedEvent {
  readonly origin: string;
  readonly kind: 'open' | 'close';
  readonly grant: GrantRequest;
  /** For opens: the deadline the origin gave it (ms since the epoch). */
  readonly deadlineMs: number;
  /** For closes: why (an entry without it, from before admin closes were shared, is a knock's). */
  readonly why?: SharedCloseWhy;
}

export function streamKey(prefix: string): string {
  return `${prefix}:grants`;
}

export function encodeEvent(e: SharedEvent): string[] {
  const { user, ip, family, proto, port } = e.grant;
  return [
    'origin',
    e.origin,
    'kind',
    e.kind,
    'user',
    user,
    'ip',
    ip,
    'family',
    String(family),
    'proto',
    proto,
    'port',
    String(port),
    'deadline',
    String(e.deadlineMs),
    ...(e.kind === 'close' ? ['why', e.why ?? 'knock'] : []),
  ];
}

/** A stream entry's fields, or undefined if they are not an event this code wrote. */
export function decodeEvent(fields: readonly string[]): SharedEvent | undefined {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i] as string, fields[i + 1] as string);
  const kind = m.get('kind');
  const family = Number(m.get('family'));
  const proto = m.get('proto');
  const port = Number(m.get('port'));
  const deadlineMs = Number(m.get('deadline'));
  const origin = m.get('origin');
  const user = m.get('user');
  const ip = m.get('ip');
  const why = m.get('why') ?? 'knock';
  if (kind !== 'open' && kind !== 'close') return undefined;
  if (why !== 'knock' && why !== 'admin') return undefined;
  if (family !== 4 && family !== 6) return undefined;
  if (proto !== 'tcp' && proto !== 'udp') return undefined;
  if (!Number.isInteger(port) || port < 1 || port > 65535 || !Number.isFinite(deadlineMs)) return undefined;
  if (origin === undefined || user === undefined || ip === undefined) return undefined;
  const grant: GrantRequest = { user, ip, family, proto: proto, port };
  return kind === 'open' ? { origin, kind, grant, deadlineMs } : { origin, kind, grant, deadlineMs, why };
}

/** XREAD's RESP2 reply: [[key, [[id, [field, value, ...]], ...]]], or null when nothing came. */
type XReadReply = Array<[string, Array<[string, string[]]>]> | null;

export interface GrantStreamOptions {
  readonly publisher: RedisLink;
  readonly prefix: string;
  readonly gateway: string;
  readonly log: Logger;
  readonly now: () => number;
  /** Applies events to this gateway's firewall (the applier's submit). */
  readonly submit: (events: readonly BookEvent[]) => Promise<boolean[]>;
  /** May this gateway's config grant it (user, port, deadline)? */
  readonly allowed: (grant: GrantRequest, deadlineMs: number) => boolean;
  /** How far back a start reads: the longest a grant can live. */
  readonly lookbackMs: number;
}

export class GrantStream {
  private reader: RedisLink | undefined;
  private stopped = false;
  private lastId: string;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: GrantStreamOptions) {
    this.lastId = `${Math.max(0, opts.now() - opts.lookbackMs)}-0`;
  }

  /** Appends what a knock here did; a failure is logged (the grant stands here either way). */
  async publish(events: readonly SharedEvent[]): Promise<void> {
    if (events.length === 0) return;
    try {
      for (const e of events)
        await this.opts.publisher.call([
          'XADD',
          streamKey(this.opts.prefix),
          'MAXLEN',
          '~',
          String(STREAM_MAX_LEN),
          '*',
          ...encodeEvent(e),
        ]);
    } catch (err) {
      this.opts.log.warn({ event: 'cluster-publish-failed', error: String((err as Error).message) }, 'grant not shared with the group');
    }
  }

  /** Starts reading the others' grants (a connection of its own: XREAD BLOCK holds it). */
  async start(): Promise<void> {
    this.reader = await this.opts.publisher.duplicate();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.reader?.close();
    await this.loop;
  }

  private async run(): Promise<void> {
    const reader = this.reader as RedisLink;
    const key = streamKey(this.opts.prefix);
    while (!this.stopped) {
      let reply: XReadReply;
      try {
        reply = await reader.call<XReadReply>(
          ['XREAD', 'COUNT', String(READ_COUNT), 'BLOCK', String(BLOCK_MS), 'STREAMS', key, this.lastId],
          BLOCK_MS + 2_000,
        );
      } catch {
        if (!this.stopped) await new Promise((r) => setTimeout(r, RETRY_MS));
        continue;
      }
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length > 0) await this.apply(entries);
    }
  }

  private async apply(entries: ReadonlyArray<[string, string[]]>): Promise<void> {
    const now = this.opts.now();
    const taken: Array<{ id: string; e: SharedEvent }> = [];
    for (const [id, fields] of entries) {
      this.lastId = id;
      const e = decodeEvent(fields);
      if (e === undefined) {
        this.opts.log.warn({ event: 'cluster-bad-entry', id }, 'a stream entry that is not a grant event; ignored');
        continue;
      }
      if (e.origin === this.opts.gateway) continue;
      if (e.kind === 'open' && e.deadlineMs <= now) continue;
      if (e.kind === 'open' && !this.opts.allowed(e.grant, e.deadlineMs)) {
        this.opts.log.warn(
          { event: 'cluster-refused', from: e.origin, ...e.grant, deadline: new Date(e.deadlineMs).toISOString() },
          'a shared grant this config does not allow; not applied',
        );
        continue;
      }
      taken.push({ id, e });
    }
    if (taken.length === 0) return;
    const events = taken.map(({ e }): BookEvent =>
      e.kind === 'open'
        ? { kind: 'open', grant: e.grant, durationSec: Math.ceil((e.deadlineMs - now) / 1000), deadlineMs: e.deadlineMs }
        : { kind: 'close', grant: e.grant, why: e.why ?? 'knock' },
    );
    const results = await this.opts.submit(events);
    taken.forEach(({ id, e }, i) =>
      this.opts.log.info(
        {
          event: 'cluster-applied',
          from: e.origin,
          id,
          kind: e.kind,
          ...e.grant,
          deadline: e.kind === 'open' ? new Date(e.deadlineMs).toISOString() : undefined,
          why: e.kind === 'close' ? e.why : undefined,
          took: results[i],
        },
        `applied a grant ${e.kind === 'open' ? 'opened' : 'closed'} by ${e.origin}`,
      ),
    );
  }
}
