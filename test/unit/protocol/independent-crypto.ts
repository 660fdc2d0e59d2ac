/**
 * An independent implementation of the v1 crypto on node:crypto only (not a test file): HKDF, HMAC,
 * the server tag, and XChaCha20 decryption (HChaCha20 written here from RFC 7539 / draft-irtf-cfrg-xchacha,
 * then OpenSSL's ChaCha20). Shares no code with src/protocol except the published label strings.
 * @module
 */
import { createDecipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import { HKDF_INFO_ENC, HKDF_INFO_MAC, HKDF_SALT, SERVER_TAG_LABEL } from '../../../src/protocol/constants.js';

export function hkdf32(secret: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from(HKDF_SALT, 'utf8'), Buffer.from(info, 'utf8'), 32));
}

export const encKeyOf = (secret: Uint8Array): Buffer => hkdf32(secret, HKDF_INFO_ENC);
export const macKeyOf = (secret: Uint8Array): Buffer => hkdf32(secret, HKDF_INFO_MAC);

export function hmacSha256(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function serverTagOf(serverId: string): Buffer {
  return createHash('sha256')
    .update(SERVER_TAG_LABEL + serverId, 'utf8')
    .digest()
    .subarray(0, 16);
}

function quarterRound(s: Uint32Array, a: number, b: number, c: number, d: number): void {
  const rotl = (v: number, n: number): number => ((v << n) | (v >>> (32 - n))) >>> 0;
  s[a] = (s[a]! + s[b]!) >>> 0;
  s[d] = rotl(s[d]! ^ s[a], 16);
  s[c] = (s[c]! + s[d]) >>> 0;
  s[b] = rotl(s[b]! ^ s[c], 12);
  s[a] = (s[a] + s[b]) >>> 0;
  s[d] = rotl(s[d] ^ s[a], 8);
  s[c] = (s[c] + s[d]) >>> 0;
  s[b] = rotl(s[b] ^ s[c], 7);
}

/** HChaCha20 (draft-irtf-cfrg-xchacha §2.2): 32-byte key, 16-byte nonce -> 32-byte subkey. */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Buffer {
  const k = Buffer.from(key);
  const n = Buffer.from(nonce16);
  const s = new Uint32Array(16);
  s.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  for (let i = 0; i < 8; i++) s[4 + i] = k.readUInt32LE(4 * i);
  for (let i = 0; i < 4; i++) s[12 + i] = n.readUInt32LE(4 * i);
  for (let round = 0; round < 10; round++) {
    quarterRound(s, 0, 4, 8, 12);
    quarterRound(s, 1, 5, 9, 13);
    quarterRound(s, 2, 6, 10, 14);
    quarterRound(s, 3, 7, 11, 15);
    quarterRound(s, 0, 5, 10, 15);
    quarterRound(s, 1, 6, 11, 12);
    quarterRound(s, 2, 7, 8, 13);
    quarterRound(s, 3, 4, 9, 14);
  }
  const out = Buffer.alloc(32);
  [0, 1, 2, 3, 12, 13, 14, 15].forEach((word, i) => out.writeUInt32LE(s[word]!, 4 * i));
  return out;
}

/** XChaCha20 keystream XOR, counter starting at 0 (encryption and decryption are the same). */
export function xchacha20Xor(key: Uint8Array, nonce24: Uint8Array, data: Uint8Array): Buffer {
  const subkey = hchacha20(key, nonce24.subarray(0, 16));
  // OpenSSL's chacha20 IV: 32-bit little-endian block counter, then the 96-bit nonce 0x00000000 || nonce[16..24].
  const iv = Buffer.concat([Buffer.alloc(8), Buffer.from(nonce24.subarray(16, 24))]);
  const decipher = createDecipheriv('chacha20', subkey, iv);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}
