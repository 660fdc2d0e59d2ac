/**
 * Cryptographically secure random bytes (the packet nonce) without loading node:crypto, whose
 * load is a measurable part of `knockspa open`'s start-up: read the kernel's /dev/urandom. Where
 * there is none (Windows), or it is not the character device it should be, node:crypto.
 * @module
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

type Read = (fd: number, buffer: Uint8Array, offset: number, length: number, position: null) => number;

/** Fills `buffer` from `fd`, reading again after a short read; throws if the source runs dry. */
export function readFully(fd: number, buffer: Uint8Array, read: Read = readSync): void {
  for (let filled = 0; filled < buffer.length; ) {
    const n = read(fd, buffer, filled, buffer.length - filled, null);
    if (n <= 0) throw new Error(`random source ended after ${filled} of ${buffer.length} bytes`);
    filled += n;
  }
}

/** `size` bytes from `device` (a character device), or null when it cannot give them all. */
function fromDevice(size: number, device: string): Uint8Array | null {
  let fd: number;
  try {
    fd = openSync(device, 'r');
  } catch {
    return null;
  }
  try {
    // A regular file standing in for /dev/urandom (a broken container or chroot) is not random.
    if (!fstatSync(fd).isCharacterDevice()) return null;
    const bytes = new Uint8Array(size);
    readFully(fd, bytes);
    return bytes;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** `size` secure random bytes: all of them from `device`, or else all from node:crypto. */
export function secureRandomBytes(size: number, device = '/dev/urandom'): Uint8Array {
  const bytes = fromDevice(size, device);
  if (bytes !== null) return bytes;
  // Loaded only here, so the common path never pays for node:crypto.
  const { randomBytes } = process.getBuiltinModule('node:crypto');
  return new Uint8Array(randomBytes(size));
}
