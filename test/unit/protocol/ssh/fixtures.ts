/**
 * Fixtures for the SSH-key format tests (not a test file): user keys of every type made with Node's
 * crypto and signed the way OpenSSH signs (ssh-agent's blob format, sk flags and counter), written
 * here independently of src/protocol/ssh's verifier.
 * @module
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  parseSshKeyBlob,
  SshKeyring,
  SshVerifier,
  SshWriter,
  sshDataToSign,
  sshFinishPacket,
  sshUnsignedPacket,
  x25519PublicOf,
  type SshKeyType,
  type SshPublicKey,
} from '../../../../src/protocol/ssh/index.js';
import { ReplayGuard, type KnockFields } from '../../../../src/protocol/index.js';

export const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
export const SKEW = 30_000;
export const SERVER_PRIVATE = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i);
export const SERVER_PUBLIC = x25519PublicOf(SERVER_PRIVATE);
export const OTHER_SERVER_PRIVATE = Uint8Array.from({ length: 32 }, (_, i) => 0x90 + i);

export const OPEN_22: KnockFields = {
  timestampMs: NOW,
  action: 'open',
  ports: [{ proto: 'tcp', port: 22 }],
  allowIp: null,
  durationSec: 0,
};

export interface TestSshKey {
  readonly type: SshKeyType;
  readonly pub: SshPublicKey;
  /** An SSH signature blob over `data`, as ssh-agent returns it. */
  sign(data: Uint8Array, opts?: { flags?: number; counter?: number; rsaHash?: 'sha256' | 'sha512' }): Uint8Array;
}

const raw = (b64url: string | undefined): Uint8Array => new Uint8Array(Buffer.from(b64url ?? '', 'base64url'));
const sha256 = (data: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest());

function ecdsaSigBlob(rs: Uint8Array): Uint8Array {
  return new SshWriter().mpint(rs.subarray(0, 32)).mpint(rs.subarray(32)).bytes();
}

/** sha256(application) || flags || counter || sha256(data): what a FIDO authenticator signs for OpenSSH. */
function skSigned(application: string, data: Uint8Array, flags: number, counter: number): Uint8Array {
  return new SshWriter()
    .raw(sha256(new TextEncoder().encode(application)))
    .u8(flags)
    .u32(counter)
    .raw(sha256(data))
    .bytes();
}

function fromPrivate(type: SshKeyType, priv: KeyObject, application = 'ssh:'): TestSshKey {
  const jwk = priv.export({ format: 'jwk' });
  const w = new SshWriter().string(type);
  if (type === 'ssh-ed25519' || type === 'sk-ssh-ed25519@openssh.com') w.string(raw(jwk.x));
  else if (type === 'ssh-rsa') w.mpint(raw(jwk.e)).mpint(raw(jwk.n));
  else w.string('nistp256').string(new Uint8Array([4, ...raw(jwk.x), ...raw(jwk.y)]));
  if (type.startsWith('sk-')) w.string(application);
  const pub = parseSshKeyBlob(w.bytes(), `test ${type}`);
  if (typeof pub === 'string') throw new Error(pub);
  return {
    type,
    pub,
    sign(data, opts = {}) {
      const flags = opts.flags ?? 1;
      const counter = opts.counter ?? 7;
      switch (type) {
        case 'ssh-ed25519':
          return new SshWriter()
            .string(type)
            .string(sign(null, data, priv))
            .bytes();
        case 'ecdsa-sha2-nistp256':
          return new SshWriter()
            .string(type)
            .string(ecdsaSigBlob(sign('sha256', data, { key: priv, dsaEncoding: 'ieee-p1363' })))
            .bytes();
        case 'ssh-rsa': {
          const hash = opts.rsaHash ?? 'sha512';
          return new SshWriter()
            .string(`rsa-${hash.replace('sha', 'sha2-')}`)
            .string(sign(hash, data, priv))
            .bytes();
        }
        case 'sk-ssh-ed25519@openssh.com':
          return new SshWriter()
            .string(type)
            .string(sign(null, skSigned(application, data, flags, counter), priv))
            .u8(flags)
            .u32(counter)
            .bytes();
        case 'sk-ecdsa-sha2-nistp256@openssh.com': {
          const rs = sign('sha256', skSigned(application, data, flags, counter), { key: priv, dsaEncoding: 'ieee-p1363' });
          return new SshWriter().string(type).string(ecdsaSigBlob(rs)).u8(flags).u32(counter).bytes();
        }
      }
    },
  };
}

/** A fixed Ed25519 key (from a fixed seed), for byte-exact vectors. */
export function fixedEd25519(seed: number, type: 'ssh-ed25519' | 'sk-ssh-ed25519@openssh.com' = 'ssh-ed25519'): TestSshKey {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, seed)]);
  return fromPrivate(type, createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
}

export function newKey(type: SshKeyType, rsaBits = 2048): TestSshKey {
  if (type === 'ssh-ed25519' || type === 'sk-ssh-ed25519@openssh.com') return fromPrivate(type, generateKeyPairSync('ed25519').privateKey);
  if (type === 'ssh-rsa') return fromPrivate(type, generateKeyPairSync('rsa', { modulusLength: rsaBits }).privateKey);
  return fromPrivate(type, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
}

/** One key of each type, made once per test process (RSA generation is slow). */
export const KEYS: readonly TestSshKey[] = (
  ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa', 'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com'] as const
).map((t) => newKey(t));

/** A fixed ephemeral private key per `n` (n < 64: X25519 clamps the top bits of the last byte). */
export function ephemeralOf(n: number): Uint8Array {
  const e = new Uint8Array(32).fill(0x5a);
  new DataView(e.buffer).setUint32(28, n >>> 0);
  return e;
}

export function knock(
  key: TestSshKey,
  opts: {
    fields?: KnockFields;
    n?: number;
    ephemeral?: Uint8Array;
    serverPublic?: Uint8Array;
    flags?: number;
    rsaHash?: 'sha256' | 'sha512';
  } = {},
): Uint8Array {
  const unsigned = sshUnsignedPacket({
    fields: opts.fields ?? OPEN_22,
    serverPublic: opts.serverPublic ?? SERVER_PUBLIC,
    ephemeralPrivate: opts.ephemeral ?? ephemeralOf(opts.n ?? 1),
    keyBlob: key.pub.blob,
  });
  return sshFinishPacket(unsigned, key.pub, key.sign(sshDataToSign(unsigned), { flags: opts.flags, rsaHash: opts.rsaHash }));
}

export function makeSshVerifier(users: ReadonlyArray<readonly [string, TestSshKey, boolean?]>, capacity = 1000): SshVerifier {
  const keyring = new SshKeyring(SERVER_PUBLIC);
  for (const [user, key, touch] of users) keyring.add(user, key.pub, touch ?? true);
  return new SshVerifier({ keyring, serverPrivate: SERVER_PRIVATE, maxSkewMs: SKEW, replay: new ReplayGuard(capacity) });
}
