/**
 * Loads every key file of each configured user into a Keyring: keys_dir/NAME.key and, after a
 * rotation, keys_dir/NAME.LABEL.key (e.g. alice.2026-11-22.key); all of a user's keys work at once.
 * Refuses files others can read or change, files not the daemon's own, links, FIFOs and oversized
 * files, and files naming another user, with the fix to run.
 * @module
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import { isKeyFileNameFor, KeyFileError, parseKeyFile } from '../../protocol/keyfile.js';
import { Keyring } from '../../protocol/keyring.js';
import type { UserKey } from '../../protocol/keys.js';
import { ConfigError } from '../../shared/errors.js';
import type { ServerConfig } from './config.js';
import { FileRefused, readOwnFile } from '../own-files.js';

export interface LoadedKeys {
  readonly keyring: Keyring;
  /** Human-readable notes for the log, e.g. a key bound to another server id. */
  readonly warnings: readonly string[];
}

export function keyFilePath(keysDir: string, user: string): string {
  return join(keysDir, `${user}.key`);
}

/**
 * The configured user a file name in keys_dir belongs to: NAME.key or NAME.LABEL.key. When two
 * names fit (users "a" and "a.b", file "a.b.key"), the longer name wins.
 */
export function keyFileOwner(fileName: string, users: Iterable<string>): string | undefined {
  let owner: string | undefined;
  for (const user of users) {
    if (isKeyFileNameFor(fileName, user) && (owner === undefined || user.length > owner.length)) owner = user;
  }
  return owner;
}

/** Every *.key file in keys_dir, sorted; a ConfigError if the directory cannot be read. */
export function listKeyFiles(config: Pick<ServerConfig, 'file' | 'keysDir'>): string[] {
  try {
    return readdirSync(config.keysDir)
      .filter((f) => f.endsWith('.key'))
      .sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(config.file, 'keys_dir', `expected a directory of key files; cannot read ${config.keysDir} (${code})`);
  }
}

/**
 * Each knockspa user's key file paths (possibly none), in file-name order. Users with
 * format = "fwknop" have their keys in the config instead; with only those, keys_dir is not read.
 */
export function userKeyFiles(
  config: Pick<ServerConfig, 'file' | 'keysDir' | 'users'> & Partial<Pick<ServerConfig, 'sshUsers'>>,
): Map<string, string[]> {
  const byUser = new Map<string, string[]>([...config.users.values()].filter((u) => u.format !== 'fwknop').map((u) => [u.name, []]));
  if (byUser.size === 0) return byUser;
  // Users who all knock with SSH keys need no keys_dir.
  const sshOnly = [...byUser.keys()].every((u) => config.sshUsers?.has(u) === true);
  if (sshOnly && !existsSync(config.keysDir)) return byUser;
  for (const name of listKeyFiles(config)) {
    const owner = keyFileOwner(name, config.users.keys());
    if (owner !== undefined) byUser.get(owner)?.push(join(config.keysDir, name));
  }
  return byUser;
}

/** A key file is a few hundred bytes; anything much larger is not one. */
export const MAX_KEY_FILE_BYTES = 4096;

/**
 * Reads one key file: the daemon's own regular file, which only it can read (own-files.ts); a
 * link, FIFO or oversized file is refused without blocking or reading it.
 */
export function readKeyFile(file: string, configFile: string, configKey: string, serverId?: string): UserKey {
  let text: string;
  try {
    text = readOwnFile(file, { secret: true, maxBytes: MAX_KEY_FILE_BYTES });
  } catch (err) {
    if (err instanceof FileRefused) throw new ConfigError(configFile, configKey, `key file ${err.message}`);
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    if (code === 'ELOOP')
      throw new ConfigError(configFile, configKey, `key file ${file} is a symbolic link; put the key file itself there`);
    throw new ConfigError(
      configFile,
      configKey,
      `expected key file ${file} (${code}); make it with: knockspa keygen --user ${configKey.split('.')[1] ?? 'NAME'} --server-id ${serverId ?? 'SERVER_ID'} --out DIR`,
    );
  }
  try {
    return parseKeyFile(text);
  } catch (err) {
    if (err instanceof KeyFileError) throw new ConfigError(configFile, configKey, `key file ${file}: ${err.message}`);
    throw new ConfigError(configFile, configKey, `cannot read key file ${file}: ${String((err as Error).message)}`);
  }
}

/** Reads one of `user`'s key files and checks that it names that user; the key's server id may differ (a warning). */
export function readUserKey(
  config: Pick<ServerConfig, 'file'> & Partial<Pick<ServerConfig, 'serverId'>>,
  user: string,
  file: string,
): UserKey {
  const key = readKeyFile(file, config.file, `users.${user}`, config.serverId);
  if (key.user !== user) {
    key.secret.fill(0);
    throw new ConfigError(config.file, `users.${user}`, `key file ${file} belongs to user "${key.user}", expected "${user}"`);
  }
  return key;
}

export interface LoadKeysOptions {
  /**
   * A configured user with no key file at all: an error (start-up: likely a mistake), or a warning
   * and no key (reload: deleting the files is how a user is revoked, so it must take effect).
   */
  readonly missing?: 'error' | 'revoke';
  /** A key bound to another server id: a warning (the daemon) or an error (`server --check`: every knock with it fails). */
  readonly wrongServer?: 'warn' | 'error';
}

export function loadKeys(config: ServerConfig, opts: LoadKeysOptions = {}): LoadedKeys {
  const keyring = new Keyring();
  const warnings: string[] = [];
  for (const [user, files] of userKeyFiles(config)) {
    const configKey = `users.${user}`;
    if (files.length === 0) {
      // SSH-key users need no key file (their keys are in ssh-users.ts).
      if (config.sshUsers.has(user)) continue;
      const expected = keyFilePath(config.keysDir, user);
      if (opts.missing !== 'revoke')
        throw new ConfigError(
          config.file,
          configKey,
          `expected key file ${expected} (ENOENT; or ${user}.LABEL.key after a rotation); make it with: knockspa keygen --user ${user} --server-id ${config.serverId} --out ${config.keysDir}`,
        );
      warnings.push(
        `no key file for user ${user} in ${config.keysDir}: ${user} cannot knock until one is added (remove [users.${user}] if ${user} is revoked)`,
      );
      continue;
    }
    for (const file of files) {
      const key = readUserKey(config, user, file);
      if (key.serverId !== config.serverId && opts.wrongServer === 'error') {
        key.secret.fill(0);
        throw new ConfigError(
          config.file,
          configKey,
          `key file ${file} is bound to server id "${key.serverId}" but server_id is "${config.serverId}": every knock made with it is refused as wrong-server; make ${user} a key for this server: knockspa keygen --user ${user} --rotate --server-id ${config.serverId} --out ${config.keysDir}`,
        );
      }
      if (key.serverId !== config.serverId)
        warnings.push(
          `key file ${file} is bound to server id "${key.serverId}" but server_id is "${config.serverId}": knocks made with it are refused as wrong-server`,
        );
      try {
        keyring.add(key);
      } catch {
        throw new ConfigError(
          config.file,
          configKey,
          `key file ${file}: key id ${bytesToHex(key.keyId)} is already in use by another key file; make a new key with: knockspa keygen --user ${user} --rotate --server-id ${config.serverId} --out ${config.keysDir}`,
        );
      } finally {
        key.secret.fill(0);
      }
    }
  }
  return { keyring, warnings };
}
