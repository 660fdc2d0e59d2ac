/**
 * Shared fixtures for the fwknop tests (not a test file): fixed keys, a field set, a verifier
 * factory, and a way to seal any plaintext (with a correct digest) for packets no encoder makes.
 * @module
 */
import { ReplayGuard } from '../../../src/protocol/replay.js';
import {
  appendDigest,
  FwknopKeyring,
  FwknopVerifier,
  sealFwknopPacket,
  sealPlaintext,
  type FwknopFields,
  type FwknopKeys,
  type FwknopVerified,
  type FwknopVerifyResult,
} from '../../../src/protocol/fwknop/index.js';

/** 2025-01-15T12:00:00Z, whole seconds (fwknop timestamps are seconds). */
export const NOW_SEC = 1_736_942_400;
export const NOW = NOW_SEC * 1000;
export const SKEW = 30_000;

export function counting(length: number, start: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

export const ALICE_KEYS: FwknopKeys = { encKey: counting(32, 0x10), hmacKey: counting(64, 0x40) };
export const BOB_KEYS: FwknopKeys = { encKey: counting(32, 0x90), hmacKey: counting(64, 0xc0) };
export const SALT = counting(8, 0xa0);

export const FIELDS: FwknopFields = {
  randomValue: '1234567890123456',
  username: 'root',
  timestampSec: NOW_SEC,
  version: '3.0.0',
  allowIp: '198.51.100.7',
  ports: [{ proto: 'tcp', port: 22 }],
  clientTimeoutSec: 0,
  digest: 'sha256',
};

export function makeVerifier(
  users: ReadonlyArray<readonly [string, FwknopKeys]> = [['alice', ALICE_KEYS]],
  opts: { replay?: ReplayGuard; maxSkewMs?: number } = {},
): FwknopVerifier {
  const keyring = new FwknopKeyring();
  for (const [user, keys] of users) keyring.add(user, keys);
  return new FwknopVerifier({ keyring, maxSkewMs: opts.maxSkewMs ?? SKEW, replay: opts.replay ?? new ReplayGuard(1024) });
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A packet for `fields` (over FIELDS) with ALICE's keys, as bytes on the wire. */
export function packetOf(fields: Partial<FwknopFields> = {}, salt = SALT, keys = ALICE_KEYS): Uint8Array {
  return bytes(sealFwknopPacket(keys, { ...FIELDS, ...fields }, salt));
}

/** A packet whose plaintext is `encoded` plus a correct SHA-256 digest (or `plaintext` verbatim with raw). */
export function craft(encoded: string, opts: { raw?: boolean; salt?: Uint8Array; keys?: FwknopKeys } = {}): Uint8Array {
  const plaintext = opts.raw === true ? encoded : appendDigest(encoded, 'sha256');
  return bytes(sealPlaintext(opts.keys ?? ALICE_KEYS, plaintext, opts.salt ?? SALT));
}

export function mustVerify(result: FwknopVerifyResult): FwknopVerified {
  if (typeof result === 'string') throw new Error(`expected the packet to verify, got ${result}`);
  return result;
}
