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

export const CLUSTER_KEYS = ['redis', 'password_file', 'name', 'gateway', 'grants', 'on_redis_down', 'timeout_ms'] as const;

/** Key prefixes and gateway names: no spaces, no glob characters (SCAN patterns are built from them). */
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export interface ClusterSettings {
  /** redis://, rediss:// (TLS); user and password may be in it. */
  readonly url: string;
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
  const url = r.string('redis', undefined) ?? '';
  if (!/^rediss?:\/\/[^/\s]+/.test(url)) r.fail('redis', 'a URL like "redis://HOST:6379/0" (rediss:// for TLS)');
  const name = r.string('name', 'knockspa') as string;
  if (!NAME.test(name)) r.fail('name', 'a key prefix of letters, digits, . _ - (at most 64)');
  const gateway = r.string('gateway', hostname()) as string;
  if (!NAME.test(gateway)) r.fail('gateway', "this gateway's name: letters, digits, . _ - (at most 64)");
  const passwordPath = r.string('password_file', undefined);
  const passwordFile = passwordPath === undefined ? undefined : resolve(base, passwordPath);
  if (passwordFile !== undefined) checkSecretFile(file, passwordFile);
  return {
    url,
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
