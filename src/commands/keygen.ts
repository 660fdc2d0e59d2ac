/**
 * `knockspa keygen`: makes a user's key file and says where it goes on each side; with --rotate,
 * a further key beside the user's existing ones (never replacing one) and the steps of a rotation;
 * with --server, the server's key for SSH-key knocks (DIR/server.key), printing its public key.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Command } from 'commander';
import { isKeyFileNameFor } from '../protocol/keyfile.js';
import { newUserKey, SERVER_ID, USER_NAME, type UserKey } from '../protocol/keys.js';
import { formatServerKeyFile, formatServerPublicKey, newServerKey } from '../protocol/ssh/server-key.js';
import { UsageError } from '../shared/errors.js';
import { loadKeyFile, writeKeyFile } from '../client/key-file.js';

export interface KeygenOptions {
  readonly user?: string;
  readonly server?: boolean;
  readonly out?: string;
  readonly serverId?: string;
  readonly force?: boolean;
  readonly rotate?: boolean;
}

interface ExistingKey {
  readonly file: string;
  readonly keyIdHex: string;
  readonly serverId: string;
  readonly created: string;
}

/** The user's key files in `dir` (NAME.key, NAME.LABEL.key), read to learn their ids and server ids. */
function existingKeys(dir: string, user: string): ExistingKey[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir)
      .filter((f) => isKeyFileNameFor(f, user))
      .sort();
  } catch {
    // no directory: no keys
  }
  const keys: ExistingKey[] = [];
  for (const name of names) {
    const key = loadKeyFile(join(dir, name));
    key.secret.fill(0);
    // a.b.key fits user "a" by name but may be user "a.b"'s key
    if (key.user === user)
      keys.push({ file: join(dir, name), keyIdHex: bytesToHex(key.keyId), serverId: key.serverId, created: key.created });
  }
  return keys;
}

/** NAME.YYYY-MM-DD.key, or NAME.YYYY-MM-DD.N.key when that is taken. */
function rotatedFileName(dir: string, user: string, now: Date): string {
  const day = now.toISOString().slice(0, 10);
  for (let n = 1; ; n++) {
    const file = join(dir, n === 1 ? `${user}.${day}.key` : `${user}.${day}.${n}.key`);
    if (!existsSync(file)) return file;
  }
}

function newKey(user: string, serverId: string, now: Date): UserKey {
  return newUserKey({ user, serverId, created: now.toISOString(), random: (n) => new Uint8Array(randomBytes(n)) });
}

function checkNames(opts: KeygenOptions & { user: string }): void {
  if (!USER_NAME.test(opts.user))
    throw new UsageError(
      `--user: expected a name like "alice" (lowercase letters, digits, _ . -; at most 32), got ${JSON.stringify(opts.user)}`,
    );
  if (opts.serverId !== undefined && !SERVER_ID.test(opts.serverId))
    throw new UsageError(`--server-id: expected a host-name-like identity, got ${JSON.stringify(opts.serverId)}`);
}

/**
 * DIR/server.key (0600): the server's X25519 key pair for SSH-key knocks. Prints the public key alone
 * on stdout (one line, for scripts and for clients' --server-key), the next steps on `note` (stderr).
 */
export function runServerKeygen(opts: KeygenOptions, print: (line: string) => void, note: (line: string) => void): number {
  if (opts.user !== undefined || opts.rotate === true || opts.serverId !== undefined)
    throw new UsageError('--server makes the server key; --user, --rotate and --server-id are for user key files');
  const dir = opts.out ?? '.';
  const file = join(dir, 'server.key');
  const key = newServerKey(new Uint8Array(randomBytes(32)), new Date().toISOString());
  const text = formatServerKeyFile(key);
  key.privateKey.fill(0);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    if (opts.force === true) {
      const tmp = `${file}.tmp-${process.pid}`;
      writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
      renameSync(tmp, file);
    } else writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UsageError(`${file} already exists; use --force to replace it (every client then needs the new public key)`);
    throw err;
  }
  print(formatServerPublicKey(key.publicKey));
  note(`wrote ${resolve(file)} (mode 0600): the server key for SSH-key knocks; keep it on this server only.`);
  note('Give the line above to clients:  knockspa open 22 --host SERVER --ssh-key ~/.ssh/id_ed25519.pub --server-key PUBLIC');
  note('In server.toml:  server_key = "server.key"  (relative to the config), and per user  ssh_keys = ["ssh-ed25519 AAAA..."]');
  return 0;
}

export function runKeygen(
  opts: KeygenOptions,
  print: (line: string) => void = console.log,
  note: (line: string) => void = console.error,
): number {
  if (opts.server === true) return runServerKeygen(opts, print, note);
  if (opts.user === undefined)
    throw new UsageError('keygen: pass --user NAME (a user key file) or --server (the server key for SSH-key knocks)');
  return runUserKeygen({ ...opts, user: opts.user }, print);
}

function runUserKeygen(opts: KeygenOptions & { user: string }, print: (line: string) => void): number {
  checkNames(opts);
  if (opts.rotate === true) return rotate(opts, print);
  const serverId = opts.serverId ?? hostname();
  if (!SERVER_ID.test(serverId))
    throw new UsageError(
      `--server-id: this host's name ${JSON.stringify(serverId)} is not usable as a server identity; pass --server-id NAME`,
    );
  const dir = opts.out ?? 'keys';
  const file = join(dir, `${opts.user}.key`);
  const key = newKey(opts.user, serverId, new Date());
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

function rotate(opts: KeygenOptions & { user: string }, print: (line: string) => void): number {
  if (opts.force === true) throw new UsageError('--rotate never replaces a key, it adds one; drop --force');
  const { user } = opts;
  const dir = opts.out ?? 'keys';
  const old = existingKeys(dir, user);
  if (old.length === 0)
    throw new UsageError(
      `--rotate: no key of ${user} in ${dir} to rotate; make the first with: knockspa keygen --user ${user} --out ${dir}`,
    );
  // The newest key's server id, unless told otherwise: a rotation keeps the binding.
  const newest = old.reduce((a, b) => (b.created > a.created ? b : a));
  const serverId = opts.serverId ?? newest.serverId;
  const now = new Date();
  const file = rotatedFileName(dir, user, now);
  const key = newKey(user, serverId, now);
  const keyIdHex = bytesToHex(key.keyId);
  writeKeyFile(file, dir, key, false);
  key.secret.fill(0);
  const name = basename(file);
  print(`wrote ${resolve(file)} (mode 0600): a new key for ${user}, key id ${keyIdHex}, bound to server id "${serverId}"`);
  print(`${user}'s other keys keep working until their files are removed:`);
  for (const k of old) print(`  ${k.file}  (key id ${k.keyIdHex}, made ${k.created})`);
  print('');
  print('Next steps:');
  print(`  1. On the server (skip the copy if ${dir} is its keys_dir): install -m 600 ${file} /etc/knockspa/keys/${name}`);
  print('     then: systemctl reload knockspa   (from now on the old and the new key both open)');
  print(`  2. Give ${user} the new file over a secure channel (mode 0600); ${user} switches to it:`);
  print(`     knockspa open 22 --host SERVER --key ~/.config/knockspa/${name}   (or key = "..." in the profile)`);
  print(`  3. Once the server log shows ${user}'s knocks with "keyId":"${keyIdHex}" only, remove the old key(s) there:`);
  for (const k of old) print(`     rm /etc/knockspa/keys/${basename(k.file)}`);
  print('     then: systemctl reload knockspa   (knocks made with a removed key are refused as unknown-key)');
  return 0;
}

export function command(): Command {
  return new Command('keygen')
    .summary('make a key file for a user, or the server key for SSH-key knocks')
    .option('--user <name>', 'the user the key is for')
    .option('--server', 'make DIR/server.key (the server key for SSH-key knocks) and print its public key')
    .option('--out <dir>', 'directory to write NAME.key (default ./keys) or server.key (default .) into')
    .option('--server-id <id>', 'the server identity the key is bound to (default: this host name)')
    .option('--force', 'replace an existing key file')
    .option('--rotate', "add a new key beside the user's existing ones (NAME.YYYY-MM-DD.key); both work until the old file is removed")
    .addHelpText(
      'after',
      '\nExamples:\n  knockspa keygen --server --out /etc/knockspa\n  knockspa keygen --user alice --server-id ssh.example.com --out keys\n  knockspa keygen --user alice --rotate --out /etc/knockspa/keys',
    )
    .action((opts: KeygenOptions) => {
      process.exitCode = runKeygen(opts);
    });
}
