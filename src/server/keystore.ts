/**
 * Loads each configured user's key file (keys_dir/NAME.key) into a Keyring.
 * Refuses files others can read, files naming another user, and missing files, with the fix to run.
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KeyFileError, parseKeyFile } from '../protocol/keyfile.js';
import { Keyring } from '../protocol/keyring.js';
import type { UserKey } from '../protocol/keys.js';
import { ConfigError } from './config-error.js';
import type { ServerConfig } from './config.js';
import { checkKeysFileMode } from './fwknop-users.js';

export interface LoadedKeys {
  readonly keyring: Keyring;
  /** Human-readable notes for the log, e.g. a key bound to another server id. */
  readonly warnings: readonly string[];
}

export function keyFilePath(keysDir: string, user: string): string {
  return join(keysDir, `${user}.key`);
}

/** Reads one key file, refusing it unless only its owner can read it. */
export function readKeyFile(file: string, configFile: string, configKey: string): UserKey {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(configFile, configKey, `expected key file ${file} (${code}); make it with: knockspa keygen --user ${configKey.split('.')[1] ?? 'NAME'} --out DIR`);
  }
  if ((mode & 0o077) !== 0)
    throw new ConfigError(configFile, configKey, `key file ${file} has mode ${(mode & 0o777).toString(8)}, which lets others read the secret; run: chmod 600 ${file}`);
  try {
    return parseKeyFile(readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof KeyFileError) throw new ConfigError(configFile, configKey, `key file ${file}: ${err.message}`);
    throw new ConfigError(configFile, configKey, `cannot read key file ${file}: ${String((err as Error).message)}`);
  }
}

export function loadKeys(config: ServerConfig): LoadedKeys {
  const keyring = new Keyring();
  const warnings: string[] = [];
  checkKeysFileMode(config.file, config.fwknopKeys);
  for (const [user, policy] of config.users) {
    if (policy.format === 'fwknop') continue; // keys in the config itself (fwknop-users.ts)
    const configKey = `users.${user}`;
    const file = keyFilePath(config.keysDir, user);
    const key = readKeyFile(file, config.file, configKey);
    if (key.user !== user) throw new ConfigError(config.file, configKey, `key file ${file} belongs to user "${key.user}", expected "${user}"`);
    if (key.serverId !== config.serverId)
      warnings.push(`key file ${file} is bound to server id "${key.serverId}" but server_id is "${config.serverId}": knocks made with it are refused as wrong-server`);
    try {
      keyring.add(key);
    } catch (err) {
      throw new ConfigError(config.file, configKey, `key file ${file}: ${(err as Error).message}`);
    } finally {
      key.secret.fill(0);
    }
  }
  return { keyring, warnings };
}
