/**
 * Signing with a private key file when there is no agent: OpenSSH's own format
 * (`-----BEGIN OPENSSH PRIVATE KEY-----`, what ssh-keygen writes) or PEM/PKCS#8, unencrypted only
 * (an encrypted key goes into ssh-agent with ssh-add, which asks for its passphrase).
 * @module
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { parseSshKeyBlob, type SshPublicKey } from '../protocol/ssh/public-key.js';
import { SshReader, SshWriter } from '../protocol/ssh/wire.js';
import { UsageError } from '../shared/errors.js';

const OPENSSH_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const OPENSSH_END = '-----END OPENSSH PRIVATE KEY-----';
const AUTH_MAGIC = 'openssh-key-v1\0';

export interface LocalSshKey {
  readonly pub: SshPublicKey;
  /** An SSH signature blob over `data`, as an agent would return it. */
  sign(data: Uint8Array): Uint8Array;
}

const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const raw = (s: string | undefined): Uint8Array => new Uint8Array(Buffer.from(s ?? '', 'base64url'));

function bigOf(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}
function bytesOf(n: bigint): Uint8Array {
  const hex = n.toString(16);
  return new Uint8Array(Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex'));
}

/** The Node key of an openssh-key-v1 private section, or why not. */
function fromOpenSsh(file: string, text: string): KeyObject {
  const bad = (why: string): never => {
    throw new UsageError(`${file}: ${why}`);
  };
  const b64 = text.slice(text.indexOf(OPENSSH_BEGIN) + OPENSSH_BEGIN.length, text.indexOf(OPENSSH_END)).replace(/\s+/g, '');
  const blob = new Uint8Array(Buffer.from(b64, 'base64'));
  if (Buffer.from(blob.subarray(0, AUTH_MAGIC.length)).toString('latin1') !== AUTH_MAGIC) bad('not an OpenSSH private key');
  const r = new SshReader(blob.subarray(AUTH_MAGIC.length));
  const cipher = r.text();
  r.string(); // kdf name
  r.string(); // kdf options
  if (cipher !== 'none')
    bad(
      'the key is encrypted with a passphrase; add it to ssh-agent (ssh-add KEY) and pass the .pub file (--ssh-key KEY.pub) to sign through the agent',
    );
  if (r.u32() !== 1) bad('expected exactly one key in the file');
  r.string(); // public key
  const section = r.string() ?? bad('truncated key file');
  const p = new SshReader(section);
  const check1 = p.u32();
  if (check1 === undefined || check1 !== p.u32()) bad('corrupt key file (check bytes differ)');
  const type = p.text();
  switch (type) {
    case 'ssh-ed25519': {
      const pk = p.string();
      const sk = p.string();
      if (pk === undefined || sk === undefined || sk.length !== 64) return bad('corrupt Ed25519 key');
      return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(pk), d: b64url(sk.subarray(0, 32)) }, format: 'jwk' });
    }
    case 'ecdsa-sha2-nistp256': {
      p.string(); // curve name
      const q = p.string();
      const d = p.unsignedMpint();
      if (q === undefined || q.length !== 65 || d === undefined || d.length > 32) return bad('corrupt ECDSA key');
      const dd = new Uint8Array(32);
      dd.set(d, 32 - d.length);
      return createPrivateKey({
        key: { kty: 'EC', crv: 'P-256', x: b64url(q.subarray(1, 33)), y: b64url(q.subarray(33)), d: b64url(dd) },
        format: 'jwk',
      });
    }
    case 'ssh-rsa': {
      const [n, e, d, iqmp, pp, qq] = [
        p.unsignedMpint(),
        p.unsignedMpint(),
        p.unsignedMpint(),
        p.unsignedMpint(),
        p.unsignedMpint(),
        p.unsignedMpint(),
      ];
      if (n === undefined || e === undefined || d === undefined || iqmp === undefined || pp === undefined || qq === undefined)
        return bad('corrupt RSA key');
      const dn = bigOf(d);
      const jwk = {
        kty: 'RSA',
        n: b64url(n),
        e: b64url(e),
        d: b64url(d),
        p: b64url(pp),
        q: b64url(qq),
        dp: b64url(bytesOf(dn % (bigOf(pp) - 1n))),
        dq: b64url(bytesOf(dn % (bigOf(qq) - 1n))),
        qi: b64url(iqmp),
      };
      return createPrivateKey({ key: jwk, format: 'jwk' });
    }
    default:
      if (type?.startsWith('sk-') === true)
        return bad('a security key signs only on the device: add it to ssh-agent (ssh-add KEY) and pass KEY.pub');
      return bad(`key type ${JSON.stringify(type)} is not supported; expected ssh-ed25519, ecdsa-sha2-nistp256 or ssh-rsa`);
  }
}

/** The SSH public key blob of a Node private key. */
function publicBlob(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return new SshWriter().string('ssh-ed25519').string(raw(jwk.x)).bytes();
  if (jwk.kty === 'EC' && jwk.crv === 'P-256')
    return new SshWriter()
      .string('ecdsa-sha2-nistp256')
      .string('nistp256')
      .string(new Uint8Array([4, ...raw(jwk.x), ...raw(jwk.y)]))
      .bytes();
  if (jwk.kty === 'RSA') return new SshWriter().string('ssh-rsa').mpint(raw(jwk.e)).mpint(raw(jwk.n)).bytes();
  throw new UsageError(`key type ${jwk.kty ?? '?'} ${jwk.crv ?? ''} is not supported; expected Ed25519, ECDSA P-256 or RSA`);
}

/** Reads an unencrypted private key file; a clear UsageError for anything else. */
export function loadPrivateSshKey(file: string, text: string): LocalSshKey {
  let key: KeyObject;
  if (text.includes(OPENSSH_BEGIN)) key = fromOpenSsh(file, text);
  else if (/-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/.test(text)) {
    try {
      key = createPrivateKey({ key: text, format: 'pem' });
    } catch (err) {
      throw new UsageError(`${file}: cannot read the private key (${(err as Error).message})`);
    }
  } else if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || text.includes('Proc-Type: 4,ENCRYPTED'))
    throw new UsageError(`${file}: the key is encrypted; add it to ssh-agent (ssh-add KEY) and pass KEY.pub to sign through the agent`);
  else throw new UsageError(`${file}: expected an SSH private key (OpenSSH or PEM format), or a public key file ending in .pub`);
  const pub = parseSshKeyBlob(publicBlob(key));
  if (typeof pub === 'string') throw new UsageError(`${file}: ${pub}`);
  return {
    pub,
    sign(data) {
      switch (pub.type) {
        case 'ssh-ed25519':
          return new SshWriter()
            .string(pub.type)
            .string(sign(null, data, key))
            .bytes();
        case 'ecdsa-sha2-nistp256': {
          const rs = sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
          const inner = new SshWriter().mpint(rs.subarray(0, 32)).mpint(rs.subarray(32)).bytes();
          return new SshWriter().string(pub.type).string(inner).bytes();
        }
        default:
          return new SshWriter()
            .string('rsa-sha2-512')
            .string(sign('sha512', data, key))
            .bytes();
      }
    },
  };
}
