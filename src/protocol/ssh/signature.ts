/**
 * Signatures of the SSH-key format (docs/protocol.md §9.3): OpenSSH's SSHSIG construction over the
 * packet, and one fixed-size wire form per key type (the agent's variable-length encoding is
 * compacted, so a packet's size depends on its key type only). Verification is Node's crypto:
 * deterministic, no randomness, no I/O.
 * @module
 */
import { constants, verify } from 'node:crypto';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { RSA_ALG_SHA256, RSA_ALG_SHA512, SK_FLAG_USER_PRESENCE, SSHSIG_HASH, SSHSIG_MAGIC, SSHSIG_NAMESPACE } from './constants.js';
import type { SshPublicKey } from './public-key.js';
import { fixedWidth, SshReader, SshWriter } from './wire.js';

/** The bytes an SSH key signs for `message` (PROTOCOL.sshsig "signed data"), namespace knockspa@v1, hash sha512. */
export function sshsigSignedData(message: Uint8Array): Uint8Array {
  return new SshWriter()
    .raw(utf8ToBytes(SSHSIG_MAGIC))
    .string(SSHSIG_NAMESPACE)
    .string('')
    .string(SSHSIG_HASH)
    .string(sha512(message))
    .bytes();
}

/** Bytes of the wire signature for this key. */
export function compactSignatureSize(key: Pick<SshPublicKey, 'type' | 'bits'>): number {
  switch (key.type) {
    case 'ssh-ed25519':
    case 'ecdsa-sha2-nistp256':
      return 64;
    case 'sk-ssh-ed25519@openssh.com':
    case 'sk-ecdsa-sha2-nistp256@openssh.com':
      return 69; // flags, counter, signature
    case 'ssh-rsa':
      return 1 + Math.ceil(key.bits / 8);
  }
}

function ecdsaRs(inner: Uint8Array): Uint8Array | undefined {
  const r = new SshReader(inner);
  const rr = r.unsignedMpint();
  const ss = r.unsignedMpint();
  if (rr === undefined || ss === undefined || !r.done) return undefined;
  const a = fixedWidth(rr, 32);
  const b = fixedWidth(ss, 32);
  if (a === undefined || b === undefined) return undefined;
  const out = new Uint8Array(64);
  out.set(a, 0);
  out.set(b, 32);
  return out;
}

/**
 * The wire form of an SSH signature blob (`string alg, string sig[, byte flags, uint32 counter]`,
 * as ssh-agent and `ssh-keygen -Y sign` make it), or why it does not fit this key.
 */
export function compactSignature(key: Pick<SshPublicKey, 'type' | 'bits'>, blob: Uint8Array): Uint8Array | string {
  const r = new SshReader(blob);
  const alg = r.text();
  const sig = r.string();
  if (alg === undefined || sig === undefined) return 'not an SSH signature';
  const expectedAlg = key.type === 'ssh-rsa' ? ['rsa-sha2-256', 'rsa-sha2-512'] : [key.type];
  if (!expectedAlg.includes(alg)) return `signature algorithm ${alg}; expected ${expectedAlg.join(' or ')}`;
  const out = new Uint8Array(compactSignatureSize(key));
  switch (key.type) {
    case 'ssh-ed25519':
      if (sig.length !== 64) return 'expected a 64-byte Ed25519 signature';
      out.set(sig);
      break;
    case 'ecdsa-sha2-nistp256': {
      const rs = ecdsaRs(sig);
      if (rs === undefined) return 'expected an ECDSA P-256 signature (r, s)';
      out.set(rs);
      break;
    }
    case 'ssh-rsa':
      if (sig.length !== out.length - 1) return `expected a ${out.length - 1}-byte RSA signature`;
      out[0] = alg === 'rsa-sha2-512' ? RSA_ALG_SHA512 : RSA_ALG_SHA256;
      out.set(sig, 1);
      break;
    case 'sk-ssh-ed25519@openssh.com':
    case 'sk-ecdsa-sha2-nistp256@openssh.com': {
      const flags = r.u8();
      const counter = r.u32();
      if (flags === undefined || counter === undefined) return 'expected the security key flags and counter';
      const body = key.type === 'sk-ssh-ed25519@openssh.com' ? (sig.length === 64 ? sig : undefined) : ecdsaRs(sig);
      if (body === undefined) return 'expected a security key signature';
      out[0] = flags;
      new DataView(out.buffer).setUint32(1, counter);
      out.set(body, 5);
      break;
    }
  }
  if (!r.done) return 'trailing bytes after the signature';
  return out;
}

export type SignatureCheck = 'ok' | 'bad-signature' | 'touch-required';

function nodeVerify(algorithm: string | null, data: Uint8Array, key: Parameters<typeof verify>[2], sig: Uint8Array): boolean {
  try {
    return verify(algorithm, data, key, sig);
  } catch {
    return false;
  }
}

/**
 * Checks the wire signature `sig` (exactly compactSignatureSize bytes) by `key` over `message`.
 * Security keys: the signed data is OpenSSH's (SHA-256 of the application, flags, counter, SHA-256
 * of the SSHSIG data); without the user-presence flag it is `touch-required` unless `requireTouch` is false.
 */
export function verifyCompact(key: SshPublicKey, sig: Uint8Array, message: Uint8Array, requireTouch: boolean): SignatureCheck {
  if (sig.length !== compactSignatureSize(key)) return 'bad-signature';
  const signed = sshsigSignedData(message);
  const p1363 = { key: key.key, dsaEncoding: 'ieee-p1363' as const };
  switch (key.type) {
    case 'ssh-ed25519':
      return nodeVerify(null, signed, key.key, sig) ? 'ok' : 'bad-signature';
    case 'ecdsa-sha2-nistp256':
      return nodeVerify('sha256', signed, p1363, sig) ? 'ok' : 'bad-signature';
    case 'ssh-rsa': {
      const hash = sig[0] === RSA_ALG_SHA256 ? 'sha256' : sig[0] === RSA_ALG_SHA512 ? 'sha512' : undefined;
      if (hash === undefined) return 'bad-signature';
      const ok = nodeVerify(hash, signed, { key: key.key, padding: constants.RSA_PKCS1_PADDING }, sig.subarray(1));
      return ok ? 'ok' : 'bad-signature';
    }
    case 'sk-ssh-ed25519@openssh.com':
    case 'sk-ecdsa-sha2-nistp256@openssh.com': {
      const data = new Uint8Array(32 + 1 + 4 + 32);
      data.set(sha256(utf8ToBytes(key.application ?? '')), 0);
      data.set(sig.subarray(0, 5), 32);
      data.set(sha256(signed), 37);
      const body = sig.subarray(5);
      const ok =
        key.type === 'sk-ssh-ed25519@openssh.com' ? nodeVerify(null, data, key.key, body) : nodeVerify('sha256', data, p1363, body);
      if (!ok) return 'bad-signature';
      // Checked after the signature, so an unsigned flag byte never decides anything.
      return requireTouch && ((sig[0] as number) & SK_FLAG_USER_PRESENCE) === 0 ? 'touch-required' : 'ok';
    }
  }
}
