/**
 * Catalogue of hostile datagram payloads, shared by the protocol tests and (later) the daemon's tests.
 * Deterministic (seeded), so a failure names the same bytes on every run. Treat the bytes as read-only:
 * copy before mutating.
 * @module
 */
import { MAGIC, PACKET_SIZE, VERSION } from '../../src/protocol/constants.js';
import type { RejectReason } from '../../src/protocol/reasons.js';

export interface BadInput {
  readonly name: string;
  readonly bytes: Uint8Array;
  /**
   * What a Verifier must answer, given a keyring that holds none of the key ids in this catalogue
   * (they are fixed pseudo-random or all-zero ids that real keys do not use).
   */
  readonly reason: RejectReason;
}

/** Largest UDP payload over IPv4: 65535 - 20 (IP header) - 8 (UDP header). */
export const MAX_UDP_PAYLOAD = 65_507;

/** mulberry32: a tiny seeded PRNG; fine for test data, never for keys. */
export function seededBytes(seed: number, length: number): Uint8Array {
  let a = seed >>> 0;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

function withHeader(rest: Uint8Array, version = VERSION): Uint8Array {
  const out = new Uint8Array(2 + rest.length);
  out[0] = MAGIC;
  out[1] = version;
  out.set(rest, 2);
  return out;
}

export const BAD_INPUTS: readonly BadInput[] = Object.freeze([
  { name: 'empty datagram', bytes: new Uint8Array(0), reason: 'bad-length' },
  { name: 'one byte (the magic)', bytes: Uint8Array.of(MAGIC), reason: 'bad-length' },
  { name: 'header only (34 bytes, valid magic and version)', bytes: withHeader(seededBytes(1, 32)), reason: 'bad-length' },
  {
    name: `${PACKET_SIZE - 1} bytes of valid-looking header and garbage`,
    bytes: withHeader(seededBytes(2, PACKET_SIZE - 3)),
    reason: 'bad-length',
  },
  {
    name: `${PACKET_SIZE + 1} bytes of valid-looking header and garbage`,
    bytes: withHeader(seededBytes(3, PACKET_SIZE - 1)),
    reason: 'bad-length',
  },
  { name: `all-zero ${PACKET_SIZE} bytes`, bytes: new Uint8Array(PACKET_SIZE), reason: 'bad-magic' },
  { name: `all-0xff ${PACKET_SIZE} bytes`, bytes: new Uint8Array(PACKET_SIZE).fill(0xff), reason: 'bad-magic' },
  {
    name: `ASCII text of ${PACKET_SIZE} bytes (fwknop-style base64)`,
    bytes: new TextEncoder().encode('QUFB'.repeat(PACKET_SIZE / 2).slice(0, PACKET_SIZE)),
    reason: 'bad-magic',
  },
  { name: 'valid magic, version 0', bytes: withHeader(seededBytes(4, PACKET_SIZE - 2), 0), reason: 'bad-version' },
  { name: 'valid magic, version 2', bytes: withHeader(seededBytes(5, PACKET_SIZE - 2), 2), reason: 'bad-version' },
  { name: 'valid magic, version 0xff', bytes: withHeader(seededBytes(6, PACKET_SIZE - 2), 0xff), reason: 'bad-version' },
  { name: 'valid magic and version, all-zero key id and body', bytes: withHeader(new Uint8Array(PACKET_SIZE - 2)), reason: 'unknown-key' },
  { name: 'valid magic and version, garbage after', bytes: withHeader(seededBytes(7, PACKET_SIZE - 2)), reason: 'unknown-key' },
  {
    name: `huge datagram (${MAX_UDP_PAYLOAD} bytes, valid-looking header)`,
    bytes: withHeader(seededBytes(8, MAX_UDP_PAYLOAD - 2)),
    reason: 'bad-length',
  },
  { name: `huge all-zero datagram (${MAX_UDP_PAYLOAD} bytes)`, bytes: new Uint8Array(MAX_UDP_PAYLOAD), reason: 'bad-length' },
]);
