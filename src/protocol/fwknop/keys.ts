/**
 * A fwknop user's two keys, as `fwknop --key-gen` prints them (KEY_BASE64, HMAC_KEY_BASE64):
 * standard base64 with padding. Checked the same way on the client and the server; problems are
 * described without ever repeating the key.
 * @module
 */
import { equalBytes } from '@noble/ciphers/utils.js';

export interface FwknopKeys {
  /** The Rijndael "password" fed to EVP_BytesToKey (not the AES key itself). */
  readonly encKey: Uint8Array;
  readonly hmacKey: Uint8Array;
}

/**
 * Accepted lengths in bytes. fwknop --key-gen makes 32 and 64; fwknop itself allows 1..32 and
 * 0..128, but a short key is a weak key, and below 16 bytes fwknop's "legacy IV" mode would pad it
 * differently, so knockspa refuses keys under 16 and 32 bytes.
 */
export const ENC_KEY_BYTES = { min: 16, max: 32 } as const;
export const HMAC_KEY_BYTES = { min: 32, max: 128 } as const;

const PADDED_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes a key; a string says what is wrong with it (without the key). */
export function parseKeyBase64(text: string, which: 'encryption' | 'HMAC'): Uint8Array | string {
  const { min, max } = which === 'encryption' ? ENC_KEY_BYTES : HMAC_KEY_BYTES;
  const expected = `base64 (with its = padding, as fwknop --key-gen prints it) of ${min} to ${max} bytes`;
  if (!PADDED_BASE64.test(text)) return `expected ${expected}; the ${which} key is not valid base64`;
  const buf = Buffer.from(text, 'base64');
  if (buf.toString('base64') !== text) return `expected ${expected}; the ${which} key is not canonical base64`;
  if (buf.length < min || buf.length > max) return `expected ${expected}; the ${which} key has ${buf.length} bytes`;
  return new Uint8Array(buf);
}

/** Both keys checked, and not the same key twice (fwknop refuses that too); a string says why not. */
export function parseKeyPair(encBase64: string, hmacBase64: string): FwknopKeys | string {
  const encKey = parseKeyBase64(encBase64, 'encryption');
  if (typeof encKey === 'string') return encKey;
  const hmacKey = parseKeyBase64(hmacBase64, 'HMAC');
  if (typeof hmacKey === 'string') return hmacKey;
  if (encKey.length === hmacKey.length && equalBytes(encKey, hmacKey))
    return 'expected two different keys; the encryption and HMAC keys are the same';
  return { encKey, hmacKey };
}
