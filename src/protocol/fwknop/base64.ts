/**
 * fwknop's base64: the standard alphabet with the '=' padding stripped (lib/base64.c, strip_b64_eq).
 * Decoding is strict: only the alphabet, no padding, and canonical (the unused low bits of the
 * last character zero), so one byte string has exactly one text form and nothing malleable
 * reaches the HMAC, the replay guard or a parser.
 * @module
 */

const ALPHABET = /^[A-Za-z0-9+/]*$/;

/** True for the byte of a base64 alphabet character (A-Z a-z 0-9 + /). */
export function isBase64Byte(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2b || b === 0x2f;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

/** Decodes unpadded, canonical base64; null for anything else. */
export function decodeBase64(text: string): Uint8Array | null {
  if (text.length % 4 === 1 || !ALPHABET.test(text)) return null;
  const buf = Buffer.from(text, 'base64');
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  return encodeBase64(bytes) === text ? bytes : null;
}

/** Decodes a base64 field as ASCII text; null unless canonical base64 of printable ASCII. */
export function decodeBase64Text(text: string): string | null {
  const bytes = decodeBase64(text);
  if (bytes === null || !isPrintableAscii(bytes)) return null;
  return String.fromCharCode(...bytes);
}

export function encodeBase64Text(text: string): string {
  return encodeBase64(new TextEncoder().encode(text));
}

/** True if every byte is printable ASCII (0x20..0x7e), as fwknop requires of the decrypted text. */
export function isPrintableAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b < 0x20 || b > 0x7e) return false;
  return true;
}
