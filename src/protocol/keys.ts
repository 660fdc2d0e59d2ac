/**
 * Per-user keys (docs/protocol.md §3): a 256-bit secret, a random 8-byte key id that names the key
 * on the wire without naming the user, and the server identity the key is bound to.
 * Encryption and MAC keys are derived from the secret with HKDF-SHA256 (RFC 5869) under distinct labels.
 * @module
 */
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { HKDF_INFO_ENC, HKDF_INFO_MAC, HKDF_SALT, KEY_ID_SIZE, SECRET_SIZE, SERVER_TAG_LABEL, SERVER_TAG_SIZE } from './constants.js';

export interface UserKey {
  readonly user: string;
  readonly keyId: Uint8Array;
  readonly serverId: string;
  readonly secret: Uint8Array;
  /** ISO 8601 time the key was made; informational. */
  readonly created: string;
}

export interface KeyMaterial {
  readonly encKey: Uint8Array;
  readonly macKey: Uint8Array;
}

/** User names become file names, log fields and template values: keep them plain. */
export const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;
/** Server identities: host-name-like, printable, no spaces. */
export const SERVER_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;

export type RandomBytes = (length: number) => Uint8Array;

export function deriveKeys(secret: Uint8Array): KeyMaterial {
  if (secret.length !== SECRET_SIZE) throw new Error(`secret: expected ${SECRET_SIZE} bytes, got ${secret.length}`);
  // HKDF's extract step is the same for both keys: done once.
  const prk = extract(sha256, secret, utf8ToBytes(HKDF_SALT));
  try {
    return { encKey: expand(sha256, prk, utf8ToBytes(HKDF_INFO_ENC), 32), macKey: expand(sha256, prk, utf8ToBytes(HKDF_INFO_MAC), 32) };
  } finally {
    prk.fill(0);
  }
}

/** The 16-byte tag a packet carries for the server it is meant for (§3.2). */
export function serverTag(serverId: string): Uint8Array {
  return sha256(utf8ToBytes(SERVER_TAG_LABEL + serverId)).slice(0, SERVER_TAG_SIZE);
}

/** Makes a new key; `random` must be a CSPRNG (the caller passes crypto.getRandomValues). */
export function newUserKey(opts: { user: string; serverId: string; created: string; random: RandomBytes }): UserKey {
  if (!USER_NAME.test(opts.user)) throw new Error(`user: expected ${USER_NAME}, got ${JSON.stringify(opts.user)}`);
  if (!SERVER_ID.test(opts.serverId))
    throw new Error(`server id: expected a host-name-like identity (${SERVER_ID}), got ${JSON.stringify(opts.serverId)}`);
  const keyId = opts.random(KEY_ID_SIZE);
  const secret = opts.random(SECRET_SIZE);
  if (keyId.length !== KEY_ID_SIZE || secret.length !== SECRET_SIZE) throw new Error('random: returned the wrong number of bytes');
  return { user: opts.user, keyId, serverId: opts.serverId, secret, created: opts.created };
}
