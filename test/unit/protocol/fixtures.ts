/**
 * Shared fixtures for the protocol tests (not a test file): fixed keys, fields, nonces and a verifier factory.
 * @module
 */
import {
  Keyring,
  REJECT_REASONS,
  ReplayGuard,
  Verifier,
  type KnockFields,
  type RejectReason,
  type UserKey,
  type Verified,
  type VerifyResult,
} from '../../../src/protocol/index.js';

/** A fixed "now": 2025-01-15T12:00:00Z. Tests pass time explicitly; nothing reads the clock. */
export const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
export const SERVER = 'spa.example.net';
export const SKEW = 30_000;

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Bytes start, start+1, ... (mod 256): readable, distinct per start value. */
export function counting(length: number, start: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

/** A key with fixed bytes derived from `n`, so every test run uses the same keys. */
export function fixedKey(n: number, opts: { user?: string; serverId?: string; keyId?: Uint8Array } = {}): UserKey {
  return {
    user: opts.user ?? `user${n}`,
    keyId: opts.keyId ?? counting(8, 0x10 * n + 1),
    serverId: opts.serverId ?? SERVER,
    secret: counting(32, 0x80 + 7 * n),
    created: '2025-01-01T00:00:00Z',
  };
}

export const ALICE = fixedKey(1, { user: 'alice' });
export const BOB = fixedKey(2, { user: 'bob' });

/** A deterministic nonce, distinct for every `n` < 2^32. */
export function nonceOf(n: number): Uint8Array {
  const nonce = new Uint8Array(24).fill(0xa5);
  new DataView(nonce.buffer).setUint32(20, n >>> 0);
  return nonce;
}

export const OPEN_SSH: KnockFields = {
  timestampMs: NOW,
  action: 'open',
  ports: [{ proto: 'tcp', port: 22 }],
  allowIp: null,
  durationSec: 0,
};

export function makeVerifier(
  keys: readonly UserKey[],
  opts: { serverId?: string; capacity?: number; maxSkewMs?: number; replay?: ReplayGuard } = {},
): Verifier {
  const keyring = new Keyring();
  for (const key of keys) keyring.add(key);
  return new Verifier({
    keyring,
    serverId: opts.serverId ?? SERVER,
    maxSkewMs: opts.maxSkewMs ?? SKEW,
    replay: opts.replay ?? new ReplayGuard(opts.capacity ?? 1024),
  });
}

export function isVerified(result: VerifyResult): result is Verified {
  return typeof result === 'object' && result !== null;
}

/** Fails unless `result` is a Verified object; returns it narrowed. */
export function mustVerify(result: VerifyResult): Verified {
  if (!isVerified(result)) throw new Error(`expected the packet to verify, got ${JSON.stringify(result)}`);
  return result;
}

/** Whether `value` is one of the reasons a knockspa packet is refused. */
export function isRejectReason(value: unknown): value is RejectReason {
  return typeof value === 'string' && (REJECT_REASONS as readonly string[]).includes(value);
}
