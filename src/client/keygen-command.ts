/**
 * `knockspa keygen`: makes a user's key file and says where it goes on each side.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { newUserKey, SERVER_ID, USER_NAME } from '../protocol/keys.js';
import { UsageError } from './errors.js';
import { writeKeyFile } from './key-file.js';

export interface KeygenOptions {
  readonly user: string;
  readonly out?: string;
  readonly serverId?: string;
  readonly force?: boolean;
}

export function runKeygen(opts: KeygenOptions, print: (line: string) => void = console.log): number {
  if (!USER_NAME.test(opts.user)) throw new UsageError(`--user: expected a name like "alice" (lowercase letters, digits, _ . -; at most 32), got ${JSON.stringify(opts.user)}`);
  const serverId = opts.serverId ?? hostname();
  if (!SERVER_ID.test(serverId)) throw new UsageError(`--server-id: expected a host-name-like identity, got ${JSON.stringify(serverId)}`);
  const dir = opts.out ?? 'keys';
  const file = join(dir, `${opts.user}.key`);
  const key = newUserKey({ user: opts.user, serverId, created: new Date().toISOString(), random: (n) => new Uint8Array(randomBytes(n)) });
  writeKeyFile(file, dir, key, opts.force === true);
  key.secret.fill(0);
  print(`wrote ${resolve(file)} (mode 0600) for user ${opts.user}, bound to server id "${serverId}"`);
  print('');
  print('On the server:');
  print(`  install -m 600 ${file} /etc/knockspa/keys/${opts.user}.key`);
  print(`  add to /etc/knockspa/server.toml (server_id must be "${serverId}"):`);
  print(`    [users.${opts.user}]`);
  print('    ports = ["tcp/22"]');
  print('    max_duration = 300');
  print('  then: systemctl reload knockspa   (or kill -HUP the daemon)');
  print('');
  print(`On ${opts.user}'s machine (copy the file over a secure channel, keep it mode 0600):`);
  print(`  knockspa open 22 --host SERVER --key ~/.config/knockspa/${opts.user}.key`);
  return 0;
}
