/**
 * server.toml's `[cluster]` table: the Redis (or Valkey) a group of gateways shares. Read with the
 * rest of the config; nothing here talks to Redis (connection.ts does, loaded only when the table
 * is there).
 * @module
 */
import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import { TableReader, type Table } from '../config/table-reader.js';

export const CLUSTER_KEYS = [
  'redis',
  'sentinels',
  'sentinel_name',
  'password_file',
  'name',
  'gateway',
  'grants',
  'on_redis_down',
  'timeout_ms',
] as const;

/** A Sentinel's address, "HOST:PORT" ("[V6]:PORT" for an IPv6 address). */
const SENTINEL = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** Key prefixes and gateway names: no spaces, no glob characters (SCAN patterns are built from them). */
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export interface SentinelNode {
  readonly host: string;
  readonly port: number;
}

export interface ClusterSettings {
  /**
   * redis://, rediss:// (TLS); user and password may be in it. With Sentinel, where it is for the
   * logs: "sentinel://HOST:PORT,.../NAME".
   */
  readonly url: string;
  /** Sentinels asked for the primary of `sentinelName` (instead of `redis`). */
  readonly sentinels?: readonly SentinelNode[];
  readonly sentinelName?: string;
  /** A 0600 file holding the password (read at start). */
  readonly passwordFile: string | undefined;
  /** Key prefix: several groups may share one Redis. */
  readonly name: string;
  /** This gateway's name in the group (the group shares one server_id). */
  readonly gateway: string;
  /** everywhere: every gateway opens what one accepted; here: only the gateway that accepted. */
  readonly grants: 'everywhere' | 'here';
  /** refuse: knocks are refused while Redis cannot answer; local: the local replay cache alone. */
  readonly onRedisDown: 'refuse' | 'local';
  /** The longest any one Redis call may take before Redis counts as down. */
  readonly timeoutMs: number;
}

export function readClusterSettings(file: string, base: string, table: Table | undefined): ClusterSettings | undefined {
  if (table === undefined) return undefined;
  const r = new TableReader(file, 'cluster', table, CLUSTER_KEYS);
  const sentinel = readSentinels(r, table);
  const url = sentinel === undefined ? (r.string('redis', undefined) ?? '') : sentinel.url;
  if (sentinel === undefined && !/^rediss?:\/\/[^/\s]+/.test(url))
    r.fail('redis', 'a URL like "redis://HOST:6379/0" (rediss:// for TLS), or sentinels and sentinel_name');
  const name = r.string('name', 'knockspa') as string;
  if (!NAME.test(name)) r.fail('name', 'a key prefix of letters, digits, . _ - (at most 64)');
  const gateway = r.string('gateway', hostname()) as string;
  if (!NAME.test(gateway)) r.fail('gateway', "this gateway's name: letters, digits, . _ - (at most 64)");
  const passwordPath = r.string('password_file', undefined);
  const passwordFile = passwordPath === undefined ? undefined : resolve(base, passwordPath);
  if (passwordFile !== undefined) checkSecretFile(file, passwordFile);
  return {
    url,
    ...(sentinel === undefined ? {} : { sentinels: sentinel.nodes, sentinelName: sentinel.name }),
    passwordFile,
    name,
    gateway,
    grants: r.oneOf('grants', ['everywhere', 'here'] as const, 'everywhere'),
    onRedisDown: r.oneOf('on_redis_down', ['refuse', 'local'] as const, 'refuse'),
    timeoutMs: r.int('timeout_ms', 5, 10_000, 250),
  };
}

/** The password file is a secret: a regular file only its owner can read. */
function checkSecretFile(file: string, path: string): void {
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a regular file');
    mode = st.mode;
  } catch (err) {
    throw new ConfigError(file, 'cluster.password_file', `a readable file holding the Redis password; ${path}: ${(err as Error).message}`);
  }
  if ((mode & 0o077) !== 0)
    throw new ConfigError(
      file,
      'cluster.password_file',
      `a file only its owner can read (chmod 600 ${path}), got mode ${(mode & 0o777).toString(8)}`,
    );
}

/** sentinels = ["HOST:PORT", ...] with sentinel_name, instead of redis; undefined without them. */
function readSentinels(r: TableReader, table: Table): { nodes: SentinelNode[]; name: string; url: string } | undefined {
  const list = table['sentinels'];
  const name = r.string('sentinel_name', undefined);
  if (list === undefined && name === undefined) return undefined;
  if (table['redis'] !== undefined) r.refuse('sentinels', 'either redis or sentinels (with sentinel_name), not both');
  if (list === undefined) r.refuse('sentinels', 'sentinel_name needs sentinels = ["HOST:26379", ...]');
  if (name === undefined) r.refuse('sentinel_name', 'sentinels need the name Sentinel knows the primary by (sentinel_name = "mymaster")');
  if (!Array.isArray(list) || list.length === 0 || list.length > 16) r.fail('sentinels', 'a list of 1 to 16 "HOST:PORT" strings');
  const nodes = (list as unknown[]).map((item) => {
    const m = typeof item === 'string' ? SENTINEL.exec(item) : null;
    const port = Number(m?.[3]);
    if (m === null || port < 1 || port > 65535) return r.fail('sentinels', 'a list of "HOST:PORT" strings ("[V6]:PORT" for IPv6)', item);
    return { host: (m[1] ?? m[2]) as string, port };
  });
  if (!NAME.test(name)) r.fail('sentinel_name', "the primary's name in Sentinel: letters, digits, . _ - (at most 64)");
  return { nodes, name, url: `sentinel://${(list as string[]).join(',')}/${name}` };
}
