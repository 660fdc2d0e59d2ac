/**
 * A group of two gateways sharing a Redis, on a {@link GroupNet}: Redis (Debian's redis-server,
 * with a password, append-only file so a restart keeps the stream) in the hub, and per gateway a
 * site (the same keys and server_id, its own state and config) and its daemon.
 * @module
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HUB_V4, type GroupNet } from '../lab/group-net.js';
import type { NsProcess } from '../lab/process.js';
import { CLI, Daemon, keygen, SERVER_ID, Site, SPA_PORT, type ServerConfigInput } from './knockspa.js';
import { NODE } from '../lab/process.js';

export const REDIS_PORT = 6379;
export const REDIS_PASSWORD = 'lab-redis-secret-4b1d';

export interface ClusterTable {
  redis?: string;
  sentinels?: string[];
  sentinel_name?: string;
  password_file?: string;
  name?: string;
  gateway?: string;
  grants?: 'everywhere' | 'here';
  on_redis_down?: 'refuse' | 'local';
  timeout_ms?: number;
}

export class RedisServer {
  proc: NsProcess | undefined;

  constructor(
    private readonly net: GroupNet,
    readonly dir: string,
    /** always (what docs/operations.md advises) or everysec (Redis's default with appendonly). */
    readonly appendfsync: 'always' | 'everysec' = 'always',
  ) {}

  async start(): Promise<void> {
    const argv = ['redis-server', '--bind', HUB_V4, '--port', String(REDIS_PORT), '--protected-mode', 'no', '--save', ''];
    argv.push('--appendonly', 'yes', '--appendfsync', this.appendfsync, '--dir', this.dir, '--requirepass', REDIS_PASSWORD);
    this.proc = this.net.spawnIn(this.net.ns.hub, argv);
    await this.proc.waitForLine((l) => /Ready to accept connections/.test(l), 15_000);
  }

  async stop(): Promise<void> {
    await this.proc?.stop('SIGTERM', 5_000);
    this.proc = undefined;
  }
}

export async function startRedis(net: GroupNet, appendfsync: 'always' | 'everysec' = 'always'): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), `knockspa-redis-${net.id}-`));
  net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const redis = new RedisServer(net, dir, appendfsync);
  await redis.start();
  return redis;
}

/** Keys made once for the group: every gateway gets a copy (one identity). */
export async function groupKeys(net: GroupNet, users: readonly string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `knockspa-keys-${net.id}-`));
  net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  for (const user of users) await keygen(dir, user);
  return dir;
}

/** A gateway's site: the group's keys, its own state, a config with [cluster]. */
export function gatewaySite(
  net: GroupNet,
  keysFrom: string,
  gateway: string,
  cluster: Partial<ClusterTable>,
  extra: ServerConfigInput = {},
): Site {
  const dir = mkdtempSync(join(tmpdir(), `knockspa-gw-${gateway}-${net.id}-`));
  net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const site = new Site(dir, {
    listen: 'udp',
    address: '0.0.0.0',
    port: SPA_PORT,
    firewall: 'iptables',
    server_id: SERVER_ID,
    keys_dir: 'keys',
    state_dir: 'state',
    max_skew: 6,
    default_duration: 30,
    ...extra,
    users: { alice: { ports: ['tcp/22', 'tcp/2222'], max_duration: 300 } },
  });
  cpSync(keysFrom, site.keysDir, { recursive: true });
  mkdirSync(site.otherKeysDir, { mode: 0o700 });
  writeFileSync(join(dir, 'redis.pass'), `${REDIS_PASSWORD}\n`, { mode: 0o600 });
  setCluster(site, {
    redis: `redis://${HUB_V4}:${REDIS_PORT}/0`,
    password_file: 'redis.pass',
    name: `grp-${net.id}`,
    gateway,
    timeout_ms: 200,
    ...cluster,
  });
  site.seedState();
  return site;
}

/** Rewrites the site's config with this [cluster] table. */
export function setCluster(site: Site, cluster: ClusterTable): void {
  site.config = { ...site.config, cluster } as ServerConfigInput;
  site.writeConfig();
}

/** Starts `knockspa server` in ns; resolves after its start event (or rejects with its output). */
export async function startGateway(net: GroupNet, ns: string, site: Site): Promise<Daemon> {
  const proc = net.spawnIn(ns, [NODE, CLI, 'server', '--config', site.configPath]);
  const start = await proc.waitForJson((l) => l.event === 'start', { timeoutMs: 15_000 });
  return new Daemon(proc, start);
}
