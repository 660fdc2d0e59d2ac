/**
 * Sealing and verifying a fwknop SPA packet (docs/protocol.md §8).
 * On the wire: base64(Salted__ ‖ salt ‖ AES-256-CBC(plaintext)) without its '=' padding and without
 * its constant first 10 characters ("U2FsdGVkX1"), followed by base64 of HMAC-SHA256 over the
 * base64 text *with* those 10 characters. Verification is ours, cheapest first: shape, then the
 * HMAC of each fwknop user in constant time, and only then decryption, strict parsing, the time
 * window and the replay guard, which remembers a digest of exactly the bytes the HMAC covered.
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import type { KnockFields } from '../body.js';
import { flatHex } from '../hex.js';
import type { ReplayGuard } from '../replay.js';
import { decodeBase64, encodeBase64, isBase64Byte, isPrintableAscii } from './base64.js';
import { decryptSalted, encryptSalted } from './cipher.js';
import { HMAC_B64_LENGTH, MAX_PACKET_LENGTH, MIN_PACKET_LENGTH, RANDOM_VALUE_DIGITS, SALTED_PREFIX_B64 } from './constants.js';
import type { FwknopKeyring } from './keyring.js';
import type { FwknopKeys } from './keys.js';
import { decodeMessage, encodeMessage, type FwknopFields } from './message.js';
import type { FwknopRejectReason } from './reasons.js';
import { AuthenticatedReject } from '../reject-detail.js';

const PREFIX_BYTES = utf8ToBytes(SALTED_PREFIX_B64);

/** Encrypts and signs any plaintext into the wire text. Tests use it for packets no encoder makes. */
export function sealPlaintext(keys: FwknopKeys, plaintext: string, salt: Uint8Array): string {
  const full = encodeBase64(encryptSalted(keys.encKey, salt, utf8ToBytes(plaintext)));
  const tag = encodeBase64(hmac(sha256, keys.hmacKey, utf8ToBytes(full)));
  return full.slice(SALTED_PREFIX_B64.length) + tag;
}

/** Builds one packet; `salt` must be 8 fresh random bytes (and fields.randomValue fresh digits). */
export function sealFwknopPacket(keys: FwknopKeys, fields: FwknopFields, salt: Uint8Array): string {
  return sealPlaintext(keys, encodeMessage(fields), salt);
}

/** The 16-digit random value field from 8 random bytes (bias below 2^-10, harmless for a nonce). */
export function randomValueFrom(bytes: Uint8Array): string {
  if (bytes.length !== 8) throw new Error(`random value: expected 8 random bytes, got ${bytes.length}`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0) % 10n ** BigInt(RANDOM_VALUE_DIGITS);
  return n.toString().padStart(RANDOM_VALUE_DIGITS, '0');
}

export interface FwknopVerified extends KnockFields {
  readonly format: 'fwknop';
  /** The knockspa user whose keys made the packet. */
  readonly user: string;
  /** The packet's own user name field (the client's login name): checked, never trusted. */
  readonly fwknopUser: string;
  /** What the replay guard remembers: "fwknop:" ‖ hex SHA-256 of the HMAC'd text. */
  readonly packetId: string;
}

export type FwknopVerifyResult = FwknopVerified | FwknopRejectReason;

/** A packet that passed the shape checks: its tag and the text the tag covers. */
export interface FwknopScreened {
  /** null: the last characters cannot be a tag; the packet may have been sent with no HMAC. */
  readonly tag: Uint8Array | null;
  readonly data: Uint8Array;
  /** The whole packet: all of it is ciphertext if the sender added no HMAC. */
  readonly packet?: Uint8Array;
}

export interface FwknopVerifierOptions {
  readonly keyring: FwknopKeyring;
  readonly maxSkewMs: number;
  readonly replay: ReplayGuard;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function ascii(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

export class FwknopVerifier {
  keyring: FwknopKeyring;
  readonly replay: ReplayGuard;
  private readonly maxSkewMs: number;
  /** Who sent the last packet refused after its HMAC passed (stale, future, replay). */
  readonly rejected = new AuthenticatedReject();

  constructor(opts: FwknopVerifierOptions) {
    this.keyring = opts.keyring;
    this.replay = opts.replay;
    this.maxSkewMs = opts.maxSkewMs;
  }

  /**
   * Steps 0-1, the checks that cost next to nothing: the packet's tag and signed text, or why it
   * was refused. A caller then decides whether to spend one HMAC per fwknop user on it ({@link size}).
   */
  screen(packet: Uint8Array): FwknopScreened | FwknopRejectReason {
    // 0. No fwknop users (the usual case): nothing to check against, so nothing to parse.
    if (this.keyring.size === 0) return 'fwknop-unknown-key';
    // 1. Shape: length, alphabet, and not the stripped prefix (a re-added one is a replay trick).
    if (packet.length < MIN_PACKET_LENGTH || packet.length > MAX_PACKET_LENGTH) return 'fwknop-bad-length';
    for (const b of packet) if (!isBase64Byte(b)) return 'fwknop-bad-base64';
    if (startsWith(packet, PREFIX_BYTES)) return 'fwknop-bad-prefix';
    const tag = decodeBase64(ascii(packet.subarray(packet.length - HMAC_B64_LENGTH)));
    return { tag, data: packet.subarray(0, packet.length - HMAC_B64_LENGTH), packet };
  }

  /** HMAC trials a screened packet costs: every fwknop user is a candidate. */
  get size(): number {
    return this.keyring.size;
  }

  verify(packet: Uint8Array, nowMs: number): FwknopVerifyResult {
    const screened = this.screen(packet);
    return typeof screened === 'string' ? screened : this.authenticate(screened, nowMs);
  }

  /**
   * Whether the whole packet is a message sealed with some user's encryption key and no HMAC (fwknop
   * without --hmac-key): worth its own reason, since the fix is on the client. Never accepted.
   */
  private unsigned(packet: Uint8Array): boolean {
    const sealed = decodeBase64(SALTED_PREFIX_B64 + ascii(packet));
    if (sealed === null) return false;
    for (const encKey of this.keyring.encKeys()) {
      const plain = decryptSalted(encKey, sealed);
      if (typeof plain === 'string') continue;
      const fields = isPrintableAscii(plain) ? decodeMessage(ascii(plain)) : 'fwknop-bad-encoding';
      plain.fill(0);
      if (typeof fields !== 'string') return true;
    }
    return false;
  }

  /** Steps 2-5 for a packet that passed {@link screen}, with what it returned. */
  authenticate({ tag, data, packet }: FwknopScreened, nowMs: number): FwknopVerifyResult {
    this.rejected.clear();
    // 2. Whose HMAC key signed prefix ‖ data? (No tag: was it sent with no HMAC at all?)
    if (tag === null) return packet !== undefined && this.unsigned(packet) ? 'fwknop-no-mac' : 'fwknop-bad-base64';
    const entry = this.keyring.findByMac(tag, PREFIX_BYTES, data);
    if (entry === undefined) return packet !== undefined && this.unsigned(packet) ? 'fwknop-no-mac' : 'fwknop-bad-mac';
    // 3. Decrypt and parse strictly.
    const sealed = decodeBase64(SALTED_PREFIX_B64 + ascii(data));
    if (sealed === null) return 'fwknop-bad-base64';
    const plain = decryptSalted(entry.encKey, sealed);
    if (plain === 'ciphertext') return 'fwknop-bad-ciphertext';
    if (plain === 'padding') return 'fwknop-bad-padding';
    if (!isPrintableAscii(plain)) return 'fwknop-bad-encoding';
    const fields = decodeMessage(ascii(plain));
    plain.fill(0);
    if (typeof fields === 'string') return fields;
    // 4. Time window, both directions (fwknop timestamps are whole seconds).
    const timestampMs = fields.timestampSec * 1000;
    const early = timestampMs < nowMs - this.maxSkewMs;
    if (early || timestampMs > nowMs + this.maxSkewMs) {
      this.rejected.record(entry.user, '', timestampMs - nowMs);
      return early ? 'fwknop-stale' : 'fwknop-future';
    }
    // 5. Never seen before: the id is a digest of the HMAC'd bytes, prefix included.
    const packetId = flatHex(sha256.create().update(PREFIX_BYTES).update(data).digest(), 'fwknop:');
    const claim = this.replay.claim(packetId, timestampMs + this.maxSkewMs, nowMs, entry.user);
    if (claim !== 'ok') {
      this.rejected.record(entry.user, '');
      return `fwknop-${claim}`;
    }
    return {
      format: 'fwknop',
      timestampMs,
      action: 'open',
      ports: fields.ports,
      allowIp: fields.allowIp,
      durationSec: fields.clientTimeoutSec,
      user: entry.user,
      fwknopUser: fields.username,
      packetId,
    };
  }
}
