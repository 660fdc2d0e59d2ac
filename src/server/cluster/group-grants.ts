/**
 * `knockspa grants --from cluster`: the group's live grants, read back from the shared stream
 * (every open and close any gateway published, as far back as a grant can live). What the stream
 * says, not what each kernel holds: grants = "here" publishes nothing.
 * @module
 */
import { pino } from 'pino';
import type { ServerConfig } from '../config/config.js';
import { ConfigError } from '../../shared/errors.js';
import { connect } from './connection.js';
import { decodeEvent, streamKey } from './grant-stream.js';

export interface GroupGrant {
  readonly user: string;
  readonly ip: string;
  readonly proto: string;
  readonly port: number;
  readonly deadlineMs: number;
  /** The gateway whose knock made it. */
  readonly origin: string;
}

const PAGE = 1_000;

export async function groupGrants(config: ServerConfig, now: () => number = Date.now): Promise<GroupGrant[]> {
  const settings = config.cluster;
  if (settings === undefined)
    throw new ConfigError(config.file, 'cluster', "a [cluster] table (--from cluster reads the group's shared grants)");
  const link = await connect(settings, config.file, pino({ enabled: false }));
  try {
    if (!link.ready) throw new Error(`Redis not reachable (${settings.url.replace(/\/\/[^@/]*@/, '//')})`);
    const longest = Math.max(config.defaultDurationSec, ...[...config.users.values()].map((u) => u.maxDurationSec));
    let start = `${Math.max(0, now() - (longest + config.maxSkewSec + 5) * 1000)}-0`;
    const live = new Map<string, GroupGrant>();
    for (;;) {
      const page = await link.call<Array<[string, string[]]>>(
        ['XRANGE', streamKey(settings.name), start, '+', 'COUNT', String(PAGE)],
        settings.timeoutMs * 4,
      );
      for (const [, fields] of page) {
        const e = decodeEvent(fields);
        if (e === undefined) continue;
        const key = `${e.grant.user} ${e.grant.ip} ${e.grant.proto}/${e.grant.port}`;
        if (e.kind === 'close') live.delete(key);
        else if (e.deadlineMs > (live.get(key)?.deadlineMs ?? 0)) live.set(key, { ...e.grant, deadlineMs: e.deadlineMs, origin: e.origin });
      }
      if (page.length < PAGE) break;
      start = `(${(page[page.length - 1] as [string, string[]])[0]}`;
    }
    return [...live.values()].filter((g) => g.deadlineMs > now());
  } finally {
    await link.close();
  }
}
