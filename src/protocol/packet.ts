/**
 * Sealing and verifying a v1 packet (docs/protocol.md §2 and §4).
 * Encrypt-then-MAC: XChaCha20 over the body, HMAC-SHA256 over header || ciphertext.
 * Verification runs cheapest first and touches nothing secret before the tag checks out;
 * the replay guard is written only for an authenticated, in-window packet.
 * @module
 */
import { xchacha20 } from '@noble/ciphers/chacha.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { decodeBody, encodeBody, type KnockFields } from './body.js';
import {
  BODY_OFF_SERVER,
  BODY_SIZE,
  HEADER_SIZE,
  MAGIC,
  NONCE_SIZE,
  OFF_BODY,
  OFF_KEY_ID,
  OFF_MAGIC,
  OFF_NONCE,
  OFF_TAG,
  OFF_VERSION,
  PACKET_SIZE,
  SERVER_TAG_SIZE,
  TAG_SIZE,
  VERSION,
} from './constants.js';
import { flatHex } from './hex.js';
import type { Keyring, KeyringEntry } from './keyring.js';
import { deriveKeys, serverTag, type UserKey } from './keys.js';
import type { ReplayGuard } from './replay.js';
import type { RejectReason } from './reasons.js';
import { AuthenticatedReject } from './reject-detail.js';

/**
 * Builds one packet. `nonce` must be 24 fresh random bytes; the body names `serverId`, the server
 * the packet is meant for (normally key.serverId).
 */
export function sealPacket(key: UserKey, fields: KnockFields, nonce: Uint8Array, serverId: string = key.serverId): Uint8Array {
  if (nonce.length !== NONCE_SIZE) throw new Error(`nonce: expected ${NONCE_SIZE} bytes, got ${nonce.length}`);
  const packet = new Uint8Array(PACKET_SIZE);
  packet[OFF_MAGIC] = MAGIC;
  packet[OFF_VERSION] = VERSION;
  packet.set(key.keyId, OFF_KEY_ID);
  packet.set(nonce, OFF_NONCE);
  const body = new Uint8Array(BODY_SIZE);
  encodeBody(fields, serverTag(serverId), body);
  const { encKey, macKey } = deriveKeys(key.secret);
  xchacha20(encKey, nonce, body, packet.subarray(OFF_BODY, OFF_TAG));
  packet.set(hmac(sha256, macKey, packet.subarray(0, OFF_TAG)), OFF_TAG);
  body.fill(0);
  encKey.fill(0);
  macKey.fill(0);
  return packet;
}

export interface Verified extends KnockFields {
  readonly user: string;
  readonly keyIdHex: string;
  /** Hex of key id || nonce: what the replay guard remembers. */
  readonly packetId: string;
}

export type VerifyResult = Verified | RejectReason;

export interface VerifierOptions {
  readonly keyring: Keyring;
  readonly serverId: string;
  readonly maxSkewMs: number;
  readonly replay: ReplayGuard;
}

/** Verifies packets for one server. Holds scratch buffers, so the reject path allocates nothing. */
export class Verifier {
  keyring: Keyring;
  readonly replay: ReplayGuard;
  private readonly maxSkewMs: number;
  private readonly serverTag: Uint8Array;
  private readonly tag = new Uint8Array(TAG_SIZE);
  private readonly body = new Uint8Array(BODY_SIZE);
  /** Aligned copy of nonce || ciphertext: noble copies unaligned inputs on every call. */
  private readonly sealed = new Uint8Array(NONCE_SIZE + BODY_SIZE);
  private readonly sealedNonce = this.sealed.subarray(0, NONCE_SIZE);
  private readonly sealedBody = this.sealed.subarray(NONCE_SIZE);
  private scratchMac: KeyringEntry['mac'] | undefined;
  /** Who sent the last packet refused after its HMAC passed (stale, future, wrong-server, replay). */
  readonly rejected = new AuthenticatedReject();

  constructor(opts: VerifierOptions) {
    this.keyring = opts.keyring;
    this.replay = opts.replay;
    this.maxSkewMs = opts.maxSkewMs;
    this.serverTag = serverTag(opts.serverId);
  }

  verify(packet: Uint8Array, nowMs: number): VerifyResult {
    const entry = this.screen(packet);
    return typeof entry === 'string' ? entry : this.authenticate(packet, entry, nowMs);
  }

  /**
   * Steps 1-2 alone, the checks that cost next to nothing and allocate nothing: the key the packet
   * names, or why it was refused. Lets a caller decide whether to spend an HMAC on it.
   */
  screen(packet: Uint8Array): KeyringEntry | RejectReason {
    // 1. Shape: exact length, magic, version.
    if (packet.length !== PACKET_SIZE) return 'bad-length';
    if (packet[OFF_MAGIC] !== MAGIC) return 'bad-magic';
    if (packet[OFF_VERSION] !== VERSION) return 'bad-version';
    // 2. Key id.
    return this.keyring.find(packet, OFF_KEY_ID) ?? 'unknown-key';
  }

  /** Steps 3-7 for a packet that passed {@link screen}, with the entry it returned. */
  authenticate(packet: Uint8Array, entry: KeyringEntry, nowMs: number): VerifyResult {
    this.rejected.clear();
    if (packet.length !== PACKET_SIZE) return 'bad-length';
    // 3. Tag, constant time, before anything is decrypted.
    const mac = entry.mac._cloneInto(this.scratchMac);
    this.scratchMac = mac;
    mac.update(packet.subarray(0, OFF_TAG));
    mac.digestInto(this.tag);
    if (!equalBytes(this.tag, packet.subarray(OFF_TAG))) return 'bad-mac';
    // 4. Decrypt and parse strictly.
    this.sealed.set(packet.subarray(OFF_NONCE, OFF_TAG));
    xchacha20(entry.encKey, this.sealedNonce, this.sealedBody, this.body);
    const fields = decodeBody(this.body);
    if (typeof fields === 'string') return this.wipe(fields);
    // 5. Time window, both directions.
    const early = fields.timestampMs < nowMs - this.maxSkewMs;
    if (early || fields.timestampMs > nowMs + this.maxSkewMs) {
      this.rejected.record(entry.user, entry.keyIdHex, fields.timestampMs - nowMs);
      return this.wipe(early ? 'stale' : 'future');
    }
    // 6. Meant for this server.
    if (!equalBytes(this.body.subarray(BODY_OFF_SERVER, BODY_OFF_SERVER + SERVER_TAG_SIZE), this.serverTag)) {
      this.rejected.record(entry.user, entry.keyIdHex);
      return this.wipe('wrong-server');
    }
    this.body.fill(0);
    // 7. Never seen before; remembered as long as its timestamp could still pass step 5.
    const packetId = flatHex(packet.subarray(OFF_KEY_ID, HEADER_SIZE));
    const claim = this.replay.claim(packetId, fields.timestampMs + this.maxSkewMs, nowMs, entry.user);
    if (claim !== 'ok') {
      this.rejected.record(entry.user, entry.keyIdHex);
      return claim;
    }
    // Spelled out rather than spread (`{ ...fields, user }`): this runs for every packet, and a spread is slower.
    const { timestampMs, action, ports, allowIp, durationSec } = fields;
    return { timestampMs, action, ports, allowIp, durationSec, user: entry.user, keyIdHex: entry.keyIdHex, packetId };
  }

  private wipe(reason: RejectReason): RejectReason {
    this.body.fill(0);
    return reason;
  }
}
