/**
 * Users' SSH public keys: the key blob of an authorized_keys line, parsed strictly into what
 * verification needs (a Node KeyObject, the sk application) and named as OpenSSH names it
 * (`SHA256:` fingerprint). Deterministic, no I/O. Errors are text saying what was expected.
 * @module
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { RSA_MAX_BITS, RSA_MIN_BITS } from './constants.js';
import { SshReader } from './wire.js';

export const SSH_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ssh-rsa',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

export interface SshPublicKey {
  readonly type: SshKeyType;
  /** The key blob as in authorized_keys (base64-decoded): what the candidate id and fingerprint hash. */
  readonly blob: Uint8Array;
  readonly key: KeyObject;
  /** Modulus bits for RSA, else the curve's size. */
  readonly bits: number;
  /** Security keys: the FIDO application ("ssh:" unless made otherwise). */
  readonly application?: string;
  /** As `ssh-keygen -l` prints it. */
  readonly fingerprint: string;
  readonly comment: string;
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

export function fingerprintOf(blob: Uint8Array): string {
  return `SHA256:${Buffer.from(sha256(blob)).toString('base64').replace(/=+$/, '')}`;
}

function keyObject(jwk: Record<string, string>): KeyObject | undefined {
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    return undefined;
  }
}

function ecPoint(r: SshReader): KeyObject | string {
  if (r.text() !== 'nistp256') return 'expected curve nistp256';
  const q = r.string();
  if (q === undefined || q.length !== 65 || q[0] !== 0x04) return 'expected an uncompressed P-256 point';
  return keyObject({ kty: 'EC', crv: 'P-256', x: b64url(q.subarray(1, 33)), y: b64url(q.subarray(33)) }) ?? 'not a point on P-256';
}

function ed25519(r: SshReader): KeyObject | string {
  const pk = r.string();
  if (pk === undefined || pk.length !== 32) return 'expected a 32-byte Ed25519 key';
  return keyObject({ kty: 'OKP', crv: 'Ed25519', x: b64url(pk) }) ?? 'not an Ed25519 key';
}

/** Parses a key blob; the reason it is refused otherwise. */
export function parseSshKeyBlob(blob: Uint8Array, comment = ''): SshPublicKey | string {
  const r = new SshReader(blob);
  const type = r.text();
  if (type === undefined) return 'not an SSH public key blob';
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type))
    return `key type ${JSON.stringify(type)} is not supported; expected one of ${SSH_KEY_TYPES.join(', ')}`;
  const t = type as SshKeyType;
  let key: KeyObject | string;
  let bits = 256;
  let application: string | undefined;
  switch (t) {
    case 'ssh-ed25519':
      key = ed25519(r);
      break;
    case 'ecdsa-sha2-nistp256':
      key = ecPoint(r);
      break;
    case 'sk-ssh-ed25519@openssh.com':
      key = ed25519(r);
      application = r.text();
      break;
    case 'sk-ecdsa-sha2-nistp256@openssh.com':
      key = ecPoint(r);
      application = r.text();
      break;
    case 'ssh-rsa': {
      const e = r.unsignedMpint();
      const n = r.unsignedMpint();
      if (e === undefined || n === undefined || n.length === 0 || e.length === 0 || e.length > 8) return 'expected an RSA key (e, n)';
      bits = n.length * 8 - Math.clz32(n[0] as number) + 24;
      if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) return `RSA key of ${bits} bits; expected ${RSA_MIN_BITS} to ${RSA_MAX_BITS}`;
      if (((n[n.length - 1] as number) & 1) === 0 || ((e[e.length - 1] as number) & 1) === 0) return 'not an RSA key (even n or e)';
      key = keyObject({ kty: 'RSA', n: b64url(n), e: b64url(e) }) ?? 'not an RSA key';
      break;
    }
  }
  if (typeof key === 'string') return `${t}: ${key}`;
  if (t.startsWith('sk-') && (application === undefined || application === '')) return `${t}: expected the security key's application`;
  if (!r.done) return `${t}: trailing bytes after the key`;
  return {
    type: t,
    blob: blob.slice(),
    key,
    bits,
    ...(application === undefined ? {} : { application }),
    fingerprint: fingerprintOf(blob),
    comment,
  };
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * One authorized_keys line, `TYPE BASE64 [COMMENT]`. Options before the type (from=, command=, ...)
 * are refused: knockspa could not honour them, and silently ignoring one would widen access.
 */
export function parseAuthorizedKey(line: string): SshPublicKey | string {
  const text = line.trim();
  const fields = text.split(/\s+/);
  const [type, data] = fields;
  if (type === undefined || type === '') return 'empty line; expected "TYPE BASE64 [COMMENT]"';
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    if (fields.slice(1).some((f) => (SSH_KEY_TYPES as readonly string[]).includes(f)) || /[=,"]/.test(type))
      return 'options before the key type (from=, command=, ...) are refused: knockspa cannot honour them; give the bare key';
    return `key type ${JSON.stringify(type.slice(0, 40))} is not supported; expected one of ${SSH_KEY_TYPES.join(', ')}`;
  }
  if (data === undefined || !BASE64.test(data) || data.length % 4 !== 0) return `${type}: expected the key's base64 after the type`;
  const blob = new Uint8Array(Buffer.from(data, 'base64'));
  const key = parseSshKeyBlob(blob, fields.slice(2).join(' '));
  if (typeof key === 'string') return key;
  if (key.type !== type) return `the line says ${type} but the key is ${key.type}`;
  return key;
}

/** The authorized_keys line of a key. */
export function formatAuthorizedKey(key: Pick<SshPublicKey, 'type' | 'blob' | 'comment'>): string {
  return `${key.type} ${Buffer.from(key.blob).toString('base64')}${key.comment === '' ? '' : ` ${key.comment}`}`;
}
