/**
 * Sealing and verifying an SSH-key knock (docs/protocol.md §9). Sign-after-encrypt: the signature
 * covers the whole packet before it, so it is checked before anything is decrypted; the body is
 * ChaCha20-Poly1305 under a key only the server (and the one client) can derive.
 * @module
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import type { KeyObject } from 'node:crypto';
import { decodeBody, encodeBody, type KnockFields } from '../body.js';
import { BODY_OFF_SERVER, BODY_SIZE, SERVER_TAG_SIZE } from '../constants.js';
import { flatHex } from '../hex.js';
import type { RejectReason } from '../reasons.js';
import { AuthenticatedReject } from '../reject-detail.js';
import type { ReplayGuard } from '../replay.js';
import {
  SSH_HEADER_SIZE,
  SSH_MAGIC,
  SSH_OFF_BODY,
  SSH_OFF_CANDIDATE,
  SSH_OFF_EPHEMERAL,
  SSH_OFF_MAGIC,
  SSH_OFF_SIGNATURE,
  SSH_OFF_VERSION,
  SSH_VERSION,
  X25519_KEY_SIZE,
} from './constants.js';
import { bodyKey, candidateId, serverKeyTag } from './keys.js';
import type { SshKeyring, SshKeyringEntry } from './keyring.js';
import type { SshPublicKey } from './public-key.js';
import { compactSignature, sshsigSignedData, verifyCompact } from './signature.js';
import { x25519PrivateKey, x25519PublicOf, x25519Shared } from './x25519.js';

/** The body key is new for every packet (fresh ephemeral key), so a fixed nonce is safe. */
const ZERO_NONCE = new Uint8Array(12);

export interface SshSealInput {
  readonly fields: KnockFields;
  /** The server's X25519 public key (what `keygen --server` printed). */
  readonly serverPublic: Uint8Array;
  /** 32 fresh random bytes: the ephemeral X25519 private key of this one packet. */
  readonly ephemeralPrivate: Uint8Array;
  /** The signing SSH key's public blob. */
  readonly keyBlob: Uint8Array;
}

/** The packet up to its signature (138 bytes): header and sealed body. What is signed. */
export function sshUnsignedPacket(input: SshSealInput): Uint8Array {
  const { fields, serverPublic, ephemeralPrivate, keyBlob } = input;
  if (serverPublic.length !== X25519_KEY_SIZE) throw new Error(`server key: expected ${X25519_KEY_SIZE} bytes`);
  const eph = x25519PrivateKey(ephemeralPrivate);
  const ephPublic = x25519PublicOf(eph);
  const shared = x25519Shared(eph, serverPublic);
  if (shared === undefined) throw new Error('server key: not a usable X25519 public key');
  const out = new Uint8Array(SSH_OFF_SIGNATURE);
  out[SSH_OFF_MAGIC] = SSH_MAGIC;
  out[SSH_OFF_VERSION] = SSH_VERSION;
  out.set(candidateId(serverPublic, keyBlob), SSH_OFF_CANDIDATE);
  out.set(ephPublic, SSH_OFF_EPHEMERAL);
  const body = new Uint8Array(BODY_SIZE);
  encodeBody(fields, serverKeyTag(serverPublic), body);
  const key = bodyKey(shared, ephPublic, serverPublic);
  out.set(chacha20poly1305(key, ZERO_NONCE, out.subarray(0, SSH_HEADER_SIZE)).encrypt(body), SSH_OFF_BODY);
  body.fill(0);
  key.fill(0);
  shared.fill(0);
  return out;
}

/** The bytes the SSH key signs (through the agent, or `ssh-keygen -Y sign -n knockspa@v1` over `unsigned`). */
export function sshDataToSign(unsigned: Uint8Array): Uint8Array {
  return sshsigSignedData(unsigned);
}

/** The packet: `unsigned` and the signature (an SSH signature blob) in its wire form. Throws if it does not fit the key. */
export function sshFinishPacket(unsigned: Uint8Array, key: Pick<SshPublicKey, 'type' | 'bits'>, signatureBlob: Uint8Array): Uint8Array {
  if (unsigned.length !== SSH_OFF_SIGNATURE) throw new Error(`unsigned packet: expected ${SSH_OFF_SIGNATURE} bytes`);
  const sig = compactSignature(key, signatureBlob);
  if (typeof sig === 'string') throw new Error(`signature: ${sig}`);
  const packet = new Uint8Array(SSH_OFF_SIGNATURE + sig.length);
  packet.set(unsigned, 0);
  packet.set(sig, SSH_OFF_SIGNATURE);
  return packet;
}

export interface SshVerified extends KnockFields {
  readonly user: string;
  readonly format: 'ssh';
  /** The signing key as OpenSSH prints it (`SHA256:...`). */
  readonly fingerprint: string;
  readonly candidateHex: string;
  /** Hex of candidate id || ephemeral key: what the replay guard remembers. */
  readonly packetId: string;
}

export interface SshVerifierOptions {
  readonly keyring: SshKeyring;
  /** The server's X25519 private key (its public key is the keyring's). */
  readonly serverPrivate: Uint8Array;
  readonly maxSkewMs: number;
  readonly replay: ReplayGuard;
}

/** The smallest and largest packet of this format (Ed25519 .. RSA-8192). */
export const SSH_MIN_PACKET = SSH_OFF_SIGNATURE + 64;
export const SSH_MAX_PACKET = SSH_OFF_SIGNATURE + 1 + 1024;

export class SshVerifier {
  readonly keyring: SshKeyring;
  readonly replay: ReplayGuard;
  private readonly maxSkewMs: number;
  private readonly serverKey: KeyObject;
  private readonly serverTag: Uint8Array;
  readonly rejected = new AuthenticatedReject();

  constructor(opts: SshVerifierOptions) {
    this.keyring = opts.keyring;
    this.replay = opts.replay;
    this.maxSkewMs = opts.maxSkewMs;
    this.serverKey = x25519PrivateKey(opts.serverPrivate);
    if (!equalBytes(x25519PublicOf(this.serverKey), opts.keyring.serverPublic))
      throw new Error('server key: private and public key differ');
    this.serverTag = serverKeyTag(opts.keyring.serverPublic);
  }

  verify(packet: Uint8Array, nowMs: number): SshVerified | RejectReason {
    const entry = this.screen(packet);
    return typeof entry === 'string' ? entry : this.authenticate(packet, entry, nowMs);
  }

  /** Length range, magic, version, candidate id, exact length for that key: no allocation, no crypto. */
  screen(packet: Uint8Array): SshKeyringEntry | RejectReason {
    if (packet.length < SSH_MIN_PACKET || packet.length > SSH_MAX_PACKET) return 'bad-length';
    if (packet[SSH_OFF_MAGIC] !== SSH_MAGIC) return 'bad-magic';
    if (packet[SSH_OFF_VERSION] !== SSH_VERSION) return 'bad-version';
    const entry = this.keyring.find(packet, SSH_OFF_CANDIDATE);
    if (entry === undefined) return 'unknown-key';
    return packet.length === entry.packetSize ? entry : 'bad-length';
  }

  /** Signature, then decryption, body, time window, server, replay guard. */
  authenticate(packet: Uint8Array, entry: SshKeyringEntry, nowMs: number): SshVerified | RejectReason {
    this.rejected.clear();
    if (packet.length !== entry.packetSize) return 'bad-length';
    const unsigned = packet.subarray(0, SSH_OFF_SIGNATURE);
    const check = verifyCompact(entry.key, packet.subarray(SSH_OFF_SIGNATURE), unsigned, entry.requireTouch);
    if (check === 'touch-required') this.rejected.record(entry.user, '', Number.NaN, entry.key.fingerprint);
    if (check !== 'ok') return check;
    const body = this.open(packet);
    if (body === undefined) {
      this.rejected.record(entry.user, '', Number.NaN, entry.key.fingerprint);
      return 'bad-body';
    }
    const fields = decodeBody(body);
    const forUs = equalBytes(body.subarray(BODY_OFF_SERVER, BODY_OFF_SERVER + SERVER_TAG_SIZE), this.serverTag);
    body.fill(0);
    if (typeof fields === 'string') return fields;
    const early = fields.timestampMs < nowMs - this.maxSkewMs;
    if (early || fields.timestampMs > nowMs + this.maxSkewMs) {
      this.rejected.record(entry.user, '', fields.timestampMs - nowMs, entry.key.fingerprint);
      return early ? 'stale' : 'future';
    }
    if (!forUs) {
      this.rejected.record(entry.user, '', Number.NaN, entry.key.fingerprint);
      return 'wrong-server';
    }
    const packetId = flatHex(packet.subarray(SSH_OFF_CANDIDATE, SSH_HEADER_SIZE));
    const claim = this.replay.claim(packetId, fields.timestampMs + this.maxSkewMs, nowMs, entry.user);
    if (claim !== 'ok') {
      this.rejected.record(entry.user, '', Number.NaN, entry.key.fingerprint);
      return claim;
    }
    const { timestampMs, action, ports, allowIp, durationSec } = fields;
    return {
      timestampMs,
      action,
      ports,
      allowIp,
      durationSec,
      user: entry.user,
      format: 'ssh',
      fingerprint: entry.key.fingerprint,
      candidateHex: entry.candidateHex,
      packetId,
    };
  }

  /** The decrypted body, or undefined if the ephemeral key or the AEAD tag is wrong. */
  private open(packet: Uint8Array): Uint8Array | undefined {
    const ephPublic = packet.subarray(SSH_OFF_EPHEMERAL, SSH_HEADER_SIZE);
    const shared = x25519Shared(this.serverKey, ephPublic);
    if (shared === undefined) return undefined;
    const key = bodyKey(shared, ephPublic, this.keyring.serverPublic);
    shared.fill(0);
    try {
      return chacha20poly1305(key, ZERO_NONCE, packet.subarray(0, SSH_HEADER_SIZE)).decrypt(
        packet.subarray(SSH_OFF_BODY, SSH_OFF_SIGNATURE),
      );
    } catch {
      return undefined;
    } finally {
      key.fill(0);
    }
  }
}
