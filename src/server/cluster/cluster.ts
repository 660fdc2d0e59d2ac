/**
 * A gateway in a group ([cluster] in server.toml): connects to the group's Redis, claims each knock
 * in the group's replay cache (replay-claim.ts), shares what knocks did (grant-stream.ts, with
 * grants = "everywhere") and says every few seconds that it is alive (heartbeat.ts). The daemon
 * loads this module only when [cluster] is there.
 * @module
 */
import type { Logger } from 'pino';
import type { BookEvent, GrantRequest } from '../grants/applier.js';
import type { ServerConfig } from '../config/config.js';
import { connect, redactedUrl } from './connection.js';
import { GrantStream, type SharedEvent } from './grant-stream.js';
import { Heartbeat } from './heartbeat.js';
import { ReplayClaims, type ClusterClaim } from './replay-claim.js';
import type { ClusterSettings } from './settings.js';

/** What the pipeline asks of the group. */
export interface ClusterStep {
  /** Never rejects: a Redis that cannot answer comes back as the outage's answer. */
  claim(packetId: string, timestampMs: number): Promise<ClusterClaim>;
  /** The knock's opens with their deadline fixed now, so every gateway gives the same one. */
  withDeadlines(events: readonly BookEvent[], nowMs: number): BookEvent[];
  /**
   * Shares the events that take effect here (grants = "everywhere"): a knock's opens and closes
   * once this gateway accepted them (state saved, batch handed to its firewall: the others need
   * not wait for this firewall's answer), admin closes once done. Other closes (expiry, shutdown,
   * a reload's) stay here.
   */
  share(events: readonly BookEvent[], results: readonly boolean[]): void;
}

export interface RunningCluster {
  readonly step: ClusterStep;
  stop(): Promise<void>;
}

export interface ClusterDeps {
  readonly log: Logger;
  readonly now: () => number;
  readonly submit: (events: readonly BookEvent[]) => Promise<boolean[]>;
  /** May this gateway grant it (the current config's users and ports)? */
  readonly allowed: (grant: GrantRequest, deadlineMs: number) => boolean;
  /** The replay window now (max_skew; a reload may widen it). */
  readonly windowMs: () => number;
}

/** The longest a grant made under `config` can live: how far back a start reads the stream. */
function lookbackMs(config: ServerConfig): number {
  const longest = Math.max(config.defaultDurationSec, ...[...config.users.values()].map((u) => u.maxDurationSec));
  return (longest + config.maxSkewSec + 5) * 1000;
}

/**
 * What of a batch the group hears: the opens (with their deadline) and the close knocks and admin
 * closes that took effect here. Expiry, shutdown and a reload's closes are this gateway's own.
 */
export function sharedEvents(origin: string, events: readonly BookEvent[], results: readonly boolean[], nowMs: number): SharedEvent[] {
  const shared: SharedEvent[] = [];
  events.forEach((e, i) => {
    if (results[i] !== true) return;
    if (e.kind === 'open') shared.push({ origin, kind: 'open', grant: e.grant, deadlineMs: e.deadlineMs ?? nowMs + e.durationSec * 1000 });
    else if (e.kind === 'close' && (e.why === 'knock' || e.why === 'admin'))
      shared.push({ origin, kind: 'close', grant: e.grant, deadlineMs: 0, why: e.why });
  });
  return shared;
}

/** Connects and starts; throws ConfigError if Redis refuses the credentials. */
export async function startCluster(config: ServerConfig, settings: ClusterSettings, deps: ClusterDeps): Promise<RunningCluster> {
  const { log, now } = deps;
  const link = await connect(settings, config.file, log);
  const claims = new ReplayClaims({ link, prefix: settings.name, onDown: settings.onRedisDown, log, now, windowMs: deps.windowMs });
  claims.start();
  const stream =
    settings.grants === 'everywhere'
      ? new GrantStream({
          publisher: link,
          prefix: settings.name,
          gateway: settings.gateway,
          log,
          now,
          submit: deps.submit,
          allowed: deps.allowed,
          lookbackMs: lookbackMs(config),
        })
      : undefined;
  await stream?.start();
  const heartbeat = new Heartbeat(link, settings, now);
  heartbeat.start();
  log.info(
    {
      event: 'cluster-start',
      redis: redactedUrl(settings.url),
      name: settings.name,
      gateway: settings.gateway,
      grants: settings.grants,
      onRedisDown: settings.onRedisDown,
      connected: link.ready,
    },
    `gateway ${settings.gateway} of group ${settings.name}`,
  );

  const step: ClusterStep = {
    claim: (packetId, timestampMs) => claims.claim(packetId, timestampMs),
    withDeadlines: (events, nowMs) => events.map((e) => (e.kind === 'open' ? { ...e, deadlineMs: nowMs + e.durationSec * 1000 } : e)),
    share: (events, results) => {
      if (stream !== undefined) void stream.publish(sharedEvents(settings.gateway, events, results, now()));
    },
  };
  return {
    step,
    stop: async () => {
      claims.stop();
      heartbeat.stop();
      await stream?.stop();
      await link.close();
    },
  };
}
