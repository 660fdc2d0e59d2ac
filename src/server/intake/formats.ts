/**
 * The two packet formats on one port, told apart before any crypto: a knockspa v1 packet starts
 * with 0xCB (not a base64 character) and is 146 bytes; a fwknop packet is base64 text of at least
 * 161 characters. Each has a screen (the checks that cost next to nothing) and an authentication
 * (HMAC first); the pipeline puts its budgets between the two.
 * @module
 */
import type { KnockFields } from '../../protocol/body.js';
import type { Keyring, KeyringEntry } from '../../protocol/keyring.js';
import { Verifier } from '../../protocol/packet.js';
import type { ReplayGuard } from '../../protocol/replay.js';
import { isBase64Byte } from '../../protocol/fwknop/base64.js';
import { MIN_PACKET_LENGTH as FWKNOP_MIN_LENGTH } from '../../protocol/fwknop/constants.js';
import { FwknopVerifier, type FwknopScreened } from '../../protocol/fwknop/packet.js';
import type { ServerConfig } from '../config/config.js';
import { fwknopKeyring } from '../config/fwknop-users.js';

/** A verified knock of either format: what the user policy needs, and where it came from. */
export interface Knock extends KnockFields {
  readonly user: string;
  /** The knockspa key that made it (fwknop packets name no key). */
  readonly keyIdHex?: string;
  /** Set for fwknop packets; knockspa packets leave it out. */
  readonly format?: 'fwknop';
  /** What the replay guard remembers (the group's replay cache claims it too). */
  readonly packetId: string;
}

/** A packet that passed its format's screen; `trials` is how many HMACs authenticating it costs. */
export type Screened =
  | { readonly format: 'knockspa'; readonly entry: KeyringEntry; readonly trials: 1 }
  | { readonly format: 'fwknop'; readonly screened: FwknopScreened; readonly trials: number };

/** True if the datagram is to be taken for a fwknop packet. */
export function looksLikeFwknop(payload: Uint8Array): boolean {
  return payload.length >= FWKNOP_MIN_LENGTH && isBase64Byte(payload[0] as number);
}

export class PacketFormats {
  constructor(
    private readonly knockspa: Verifier,
    private readonly fwknop: FwknopVerifier,
  ) {}

  /** The cheap checks of the packet's format: what to authenticate it with, or why it was refused. */
  screen(payload: Uint8Array): Screened | string {
    if (looksLikeFwknop(payload)) {
      const screened = this.fwknop.screen(payload);
      return typeof screened === 'string' ? screened : { format: 'fwknop', screened, trials: this.fwknop.size };
    }
    const entry = this.knockspa.screen(payload);
    return typeof entry === 'string' ? entry : { format: 'knockspa', entry, trials: 1 };
  }

  /** HMAC, decryption, time window, server, replay guard: the knock, or why it was refused. */
  authenticate(payload: Uint8Array, screened: Screened, nowMs: number): Knock | string {
    return screened.format === 'knockspa'
      ? this.knockspa.authenticate(payload, screened.entry, nowMs)
      : this.fwknop.authenticate(screened.screened, nowMs);
  }

  /** User, key id and clock skew of the packet just refused after its HMAC passed; undefined for any other reject. */
  rejectDetail(screened: Screened): Record<string, unknown> | undefined {
    return (screened.format === 'knockspa' ? this.knockspa : this.fwknop).rejected.logFields();
  }

  /** Screen and authenticate in one go, without budgets (checks and tests). */
  verify(payload: Uint8Array, nowMs: number): Knock | string {
    const screened = this.screen(payload);
    return typeof screened === 'string' ? screened : this.authenticate(payload, screened, nowMs);
  }
}

/**
 * Both verifiers for a loaded config, sharing one replay guard.
 * Throws ConfigError if the config file holds fwknop keys and others can read it.
 */
export function packetFormats(config: ServerConfig, keyring: Keyring, replay: ReplayGuard): PacketFormats {
  const maxSkewMs = config.maxSkewSec * 1000;
  return new PacketFormats(
    new Verifier({ keyring, serverId: config.serverId, maxSkewMs, replay }),
    new FwknopVerifier({ keyring: fwknopKeyring(config), maxSkewMs, replay }),
  );
}
