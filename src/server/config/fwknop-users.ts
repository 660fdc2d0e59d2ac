/**
 * Users who knock with fwknop: in server.toml, `format = "fwknop"` with the two keys
 * `fwknop --key-gen` prints (`fwknop_key_base64`, `fwknop_hmac_key_base64`) instead of a key file.
 * Validated strictly; no error message ever contains a key. Their keyring is built here too.
 * @module
 */
import { statSync } from 'node:fs';
import { equalBytes } from '@noble/ciphers/utils.js';
import { FwknopKeyring } from '../../protocol/fwknop/keyring.js';
import { parseKeyBase64, type FwknopKeys } from '../../protocol/fwknop/keys.js';
import { ConfigError, shown } from '../../shared/errors.js';

export type UserFormat = 'knockspa' | 'fwknop';
export const USER_FORMATS: readonly UserFormat[] = ['knockspa', 'fwknop'];
/** The keys a [users.NAME] table may have for this. */
export const FWKNOP_USER_KEYS = ['format', 'fwknop_key_base64', 'fwknop_hmac_key_base64'] as const;
/**
 * fwknop packets name no key, so each one costs an HMAC per fwknop user (docs/protocol.md §8.3):
 * the number of such users is capped.
 */
export const MAX_FWKNOP_USERS = 256;

type Table = Record<string, unknown>;

function readKey(file: string, path: string, value: unknown, which: 'encryption' | 'HMAC', printed: string): Uint8Array {
  // A string here may be a key: never echo it (shown() of anything else is safe).
  if (typeof value !== 'string')
    throw new ConfigError(file, path, `expected the ${printed} line of fwknop --key-gen (a base64 string), got ${shown(value)}`);
  const key = parseKeyBase64(value, which);
  if (typeof key === 'string') throw new ConfigError(file, path, key);
  return key;
}

/** The format of one user table, and the fwknop keys if it is "fwknop". */
export function readUserFormat(file: string, name: string, table: Table): { format: UserFormat; fwknopKeys: FwknopKeys | undefined } {
  const prefix = `users.${name}`;
  const format = table.format ?? 'knockspa';
  if (typeof format !== 'string' || !(USER_FORMATS as readonly string[]).includes(format))
    throw new ConfigError(
      file,
      `${prefix}.format`,
      `expected "knockspa" (a key file) or "fwknop" (fwknop keys in this table), got ${shown(format)}`,
    );
  if (format === 'knockspa') {
    for (const key of ['fwknop_key_base64', 'fwknop_hmac_key_base64'])
      if (table[key] !== undefined)
        throw new ConfigError(file, `${prefix}.${key}`, 'only with format = "fwknop"; a knockspa user has a key file instead');
    return { format, fwknopKeys: undefined };
  }
  const encKey = readKey(file, `${prefix}.fwknop_key_base64`, table.fwknop_key_base64, 'encryption', 'KEY_BASE64');
  const hmacKey = readKey(file, `${prefix}.fwknop_hmac_key_base64`, table.fwknop_hmac_key_base64, 'HMAC', 'HMAC_KEY_BASE64');
  if (encKey.length === hmacKey.length && equalBytes(encKey, hmacKey))
    throw new ConfigError(
      file,
      `${prefix}.fwknop_hmac_key_base64`,
      'expected a key different from fwknop_key_base64; the two are the same',
    );
  return { format: 'fwknop', fwknopKeys: { encKey, hmacKey } };
}

/** Checks across users: at most MAX_FWKNOP_USERS, and no HMAC key shared (it alone tells users apart). */
export function checkFwknopUsers(file: string, keys: ReadonlyMap<string, FwknopKeys>): void {
  if (keys.size > MAX_FWKNOP_USERS)
    throw new ConfigError(
      file,
      'users',
      `expected at most ${MAX_FWKNOP_USERS} users with format = "fwknop" (each costs an HMAC per fwknop packet), got ${keys.size}`,
    );
  const seen: Array<[string, Uint8Array]> = [];
  for (const [user, { hmacKey }] of keys) {
    const twin = seen.find(([, k]) => k.length === hmacKey.length && equalBytes(k, hmacKey));
    if (twin !== undefined)
      throw new ConfigError(
        file,
        `users.${user}.fwknop_hmac_key_base64`,
        `expected a key of this user's own; users.${twin[0]} has the same one`,
      );
    seen.push([user, hmacKey]);
  }
}

/** A config file that holds fwknop keys is a key file too: refused unless only its owner can read it. */
export function checkKeysFileMode(file: string, keys: ReadonlyMap<string, FwknopKeys>): void {
  const [first] = keys.keys();
  if (first === undefined) return;
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new ConfigError(
      file,
      `users.${first}.fwknop_key_base64`,
      `the config file holds fwknop keys but has mode ${mode.toString(8)}, which lets others read them; run: chmod 600 ${file}`,
    );
}

/** The fwknop users' keyring, once the file holding their keys has passed checkKeysFileMode. */
export function fwknopKeyring(config: { readonly file: string; readonly fwknopKeys: ReadonlyMap<string, FwknopKeys> }): FwknopKeyring {
  checkKeysFileMode(config.file, config.fwknopKeys);
  const ring = new FwknopKeyring();
  for (const [user, pair] of config.fwknopKeys) ring.add(user, pair);
  return ring;
}
