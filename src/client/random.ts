/**
 * Cryptographically secure random bytes (the packet nonce) from the platform's CSPRNG, through
 * Web Crypto's getRandomValues.
 * @module
 */

/** getRandomValues fills at most this many bytes per call. */
const MAX_PER_CALL = 65_536;

/** `size` secure random bytes. */
export function secureRandomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += MAX_PER_CALL) crypto.getRandomValues(bytes.subarray(at, at + MAX_PER_CALL));
  return bytes;
}
