/**
 * X25519 (RFC 7748) on raw 32-byte keys, through Node's crypto: deterministic, the private keys come
 * from the caller (the client's CSPRNG, the server key file).
 * @module
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import { X25519_KEY_SIZE } from './constants.js';

// DER prefixes of PKCS#8 and SPKI for OID 1.3.101.110 (X25519), RFC 8410.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_KEY_SIZE) throw new Error(`X25519 private key: expected ${X25519_KEY_SIZE} bytes, got ${raw.length}`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

/** The public key of a private key (throws if `raw` is not 32 bytes). */
export function x25519PublicOf(raw: Uint8Array | KeyObject): Uint8Array {
  const priv = raw instanceof Uint8Array ? x25519PrivateKey(raw) : raw;
  const der = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(SPKI_PREFIX.length));
}

/** The shared secret, or undefined if the peer key is unusable (a low-order point gives all zeros). */
export function x25519Shared(priv: KeyObject, peerPublic: Uint8Array): Uint8Array | undefined {
  if (peerPublic.length !== X25519_KEY_SIZE) return undefined;
  let shared: Uint8Array;
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, peerPublic]), format: 'der', type: 'spki' });
    shared = new Uint8Array(diffieHellman({ privateKey: priv, publicKey }));
  } catch {
    return undefined;
  }
  let acc = 0;
  for (const b of shared) acc |= b;
  return acc === 0 ? undefined : shared;
}
