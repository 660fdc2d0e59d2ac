/**
 * fwknop's "Rijndael" encryption (lib/cipher_funcs.c), which is OpenSSL's `enc -aes-256-cbc -md md5`:
 * the key is a password fed with a random 8-byte salt to EVP_BytesToKey (MD5, one round) for the
 * AES-256 key and the CBC IV; the ciphertext is "Salted__" ‖ salt ‖ AES-256-CBC(PKCS#7).
 * Only CBC: fwknop's other modes and its pre-2.5 "legacy IV" key padding are not spoken.
 * @module
 */
import { cbc } from '@noble/ciphers/aes.js';
import { md5 } from '@noble/hashes/legacy.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { AES_BLOCK_SIZE, AES_KEY_SIZE, SALT_SIZE, SALTED_HEADER_SIZE, SALTED_MAGIC } from './constants.js';

const MAGIC_BYTES = new TextEncoder().encode(SALTED_MAGIC);

/** EVP_BytesToKey(MD5, count 1): D1 = MD5(pw ‖ salt), Di = MD5(Di-1 ‖ pw ‖ salt); key ‖ iv = D1 ‖ D2 ‖ D3. */
export function deriveKeyAndIv(password: Uint8Array, salt: Uint8Array): { key: Uint8Array; iv: Uint8Array } {
  if (salt.length !== SALT_SIZE) throw new Error(`salt: expected ${SALT_SIZE} bytes, got ${salt.length}`);
  const out = new Uint8Array(AES_KEY_SIZE + AES_BLOCK_SIZE);
  let block = new Uint8Array(0);
  for (let at = 0; at < out.length; at += block.length) {
    block = md5(concatBytes(block, password, salt));
    out.set(block.subarray(0, out.length - at), at);
  }
  return { key: out.subarray(0, AES_KEY_SIZE), iv: out.subarray(AES_KEY_SIZE) };
}

/** "Salted__" ‖ salt ‖ AES-256-CBC(plaintext, PKCS#7 padded). */
export function encryptSalted(password: Uint8Array, salt: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const { key, iv } = deriveKeyAndIv(password, salt);
  const sealed = cbc(key, iv).encrypt(plaintext);
  key.fill(0);
  return concatBytes(MAGIC_BYTES, salt, sealed);
}

/**
 * The plaintext of "Salted__" ‖ salt ‖ ciphertext: 'ciphertext' if the header or the block
 * structure is wrong, 'padding' if the PKCS#7 padding is not (so the key was not the sender's).
 */
export function decryptSalted(password: Uint8Array, data: Uint8Array): Uint8Array | 'ciphertext' | 'padding' {
  const bodyLength = data.length - SALTED_HEADER_SIZE;
  if (bodyLength < AES_BLOCK_SIZE || bodyLength % AES_BLOCK_SIZE !== 0) return 'ciphertext';
  for (let i = 0; i < MAGIC_BYTES.length; i++) if (data[i] !== MAGIC_BYTES[i]) return 'ciphertext';
  const { key, iv } = deriveKeyAndIv(password, data.subarray(MAGIC_BYTES.length, SALTED_HEADER_SIZE));
  try {
    return cbc(key, iv).decrypt(data.subarray(SALTED_HEADER_SIZE));
  } catch {
    // noble reports a bad PKCS#7 padding by throwing; it is the only thing that can go wrong here.
    return 'padding';
  } finally {
    key.fill(0);
  }
}
