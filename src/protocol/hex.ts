/**
 * Lower-case hex as one flat string, for ids that live long in maps (the replay guard). Built by
 * concatenation, as noble's bytesToHex does, a string stays a rope of one piece per byte for as
 * long as it is held: a full replay guard took about 900 bytes an id instead of 170.
 * @module
 */

const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** Made on first use: making one loads Node's encoding module, which `knockspa open` never needs. */
let ascii: TextDecoder | undefined;

/** `prefix` (ASCII) followed by the hex of `bytes`, as one flat string. */
export function flatHex(bytes: Uint8Array, prefix = ''): string {
  const chars = new Uint8Array(prefix.length + 2 * bytes.length);
  for (let i = 0; i < prefix.length; i++) chars[i] = prefix.charCodeAt(i);
  for (let i = 0, at = prefix.length; i < bytes.length; i++, at += 2) {
    const b = bytes[i] as number;
    chars[at] = HEX_DIGITS[b >> 4] as number;
    chars[at + 1] = HEX_DIGITS[b & 15] as number;
  }
  return (ascii ??= new TextDecoder()).decode(chars);
}
