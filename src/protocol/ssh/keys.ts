/**
 * Keys of the SSH-key format (docs/protocol.md §9.2): the candidate id that lets a server find a
 * user's key without a fingerprint on the wire, the body key from X25519 + HKDF, the server tag.
 * @module
 */
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { SERVER_TAG_SIZE } from '../constants.js';
import { CANDIDATE_ID_SIZE, SSH_HKDF_INFO, SSH_HKDF_SALT, SSH_SERVER_TAG_LABEL, X25519_KEY_SIZE } from './constants.js';

/**
 * First 8 bytes of HMAC-SHA256(key = server public key, message = SSH key blob). The same for every
 * knock of one key to one server (linkable there), different per server, and not computable from a
 * published SSH key without the server's public key.
 */
export function candidateId(serverPublic: Uint8Array, keyBlob: Uint8Array): Uint8Array {
  return hmac(sha256, serverPublic, keyBlob).slice(0, CANDIDATE_ID_SIZE);
}

/** The body key: HKDF-SHA256 of the X25519 secret, bound to both public keys. */
export function bodyKey(shared: Uint8Array, ephemeralPublic: Uint8Array, serverPublic: Uint8Array): Uint8Array {
  if (ephemeralPublic.length !== X25519_KEY_SIZE || serverPublic.length !== X25519_KEY_SIZE) throw new Error('X25519 keys are 32 bytes');
  const info = new Uint8Array(SSH_HKDF_INFO.length + 2 * X25519_KEY_SIZE);
  info.set(utf8ToBytes(SSH_HKDF_INFO), 0);
  info.set(ephemeralPublic, SSH_HKDF_INFO.length);
  info.set(serverPublic, SSH_HKDF_INFO.length + X25519_KEY_SIZE);
  const prk = extract(sha256, shared, utf8ToBytes(SSH_HKDF_SALT));
  try {
    return expand(sha256, prk, info, 32);
  } finally {
    prk.fill(0);
  }
}

/** The body's server field for this format: a tag of the server's public key. */
export function serverKeyTag(serverPublic: Uint8Array): Uint8Array {
  const data = new Uint8Array(SSH_SERVER_TAG_LABEL.length + serverPublic.length);
  data.set(utf8ToBytes(SSH_SERVER_TAG_LABEL), 0);
  data.set(serverPublic, SSH_SERVER_TAG_LABEL.length);
  return sha256(data).slice(0, SERVER_TAG_SIZE);
}
