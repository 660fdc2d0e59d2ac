/**
 * The three packet formats on one port, told apart before any crypto: a knockspa v1 packet starts
 * with 0xCB (not a base64 character) and is 146 bytes; an SSH-key knock starts with 0xCC; a fwknop
 * packet is base64 text of at least 161 characters. Each has a screen (the checks that cost next to nothing) and an authentication
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
import type { LoadedSshKeys } from '../config/ssh-users.js';
import { SSH_MAGIC } from '../../protocol/ssh/constants.js';
import type { SshKeyringEntry } from '../../protocol/ssh/keyring.js';
import { SshVerifier } from '../../protocol/ssh/packet.js';

/** A verified knock of either format: what the user policy needs, and where it came from. */
export interface Knock extends KnockFields {
  readonly user: string;
  /** The knockspa key that made it (fwknop packets name no key). */
  readonly keyIdHex?: string;
  /** Set for fwknop and SSH-key packets; knockspa v1 packets leave it out. */
  readonly format?: 'fwknop' | 'ssh';
  /** SSH-key packets: the key that signed, as OpenSSH prints it (`SHA256:...`). */
  readonly fingerprint?: string;
  /** What the replay guard remembers (the group's replay cache claims it too). */
  readonly packetId: string;
}

/** A packet that passed its format's screen; `trials` is how many HMACs authenticating it costs. */
export type Screened =
  | { readonly format: 'knockspa'; readonly entry: KeyringEntry; readonly trials: 1 }
  | { readonly format: 'ssh'; readonly entry: SshKeyringEntry; readonly trials: 1 }
  | { readonly format: 'fwknop'; readonly screened: FwknopScreened; readonly trials: number };

/** True if the datagram is to be taken for a fwknop packet. */
export function looksLikeFwknop(payload: Uint8Array): boolean {
  return payload.length >= FWKNOP_MIN_LENGTH && isBase64Byte(payload[0] as number);
}

export class PacketFormats {
  constructor(
    private readonly knockspa: Verifier,
    private readonly fwknop: FwknopVerifier,
    /** Null when no user has SSH keys: 0xCC packets are then refused by v1's screen (bad-length or bad-magic). */
    private readonly ssh: SshVerifier | null = null,
  ) {}

  /** The cheap checks of the packet's format: what to authenticate it with, or why it was refused. */
  screen(payload: Uint8Array): Screened | string {
    if (looksLikeFwknop(payload)) {
      const screened = this.fwknop.screen(payload);
      return typeof screened === 'string' ? screened : { format: 'fwknop', screened, trials: this.fwknop.size };
    }
    if (this.ssh !== null && payload[0] === SSH_MAGIC) {
      const entry = this.ssh.screen(payload);
      return typeof entry === 'string' ? entry : { format: 'ssh', entry, trials: 1 };
    }
    const entry = this.knockspa.screen(payload);
    return typeof entry === 'string' ? entry : { format: 'knockspa', entry, trials: 1 };
  }

  /** HMAC, decryption, time window, server, replay guard: the knock, or why it was refused. */
  authenticate(payload: Uint8Array, screened: Screened, nowMs: number): Knock | string {
    switch (screened.format) {
      case 'knockspa':
        return this.knockspa.authenticate(payload, screened.entry, nowMs);
      case 'ssh':
        return (this.ssh as SshVerifier).authenticate(payload, screened.entry, nowMs);
      case 'fwknop':
        return this.fwknop.authenticate(screened.screened, nowMs);
    }
  }

  /** User, key id and clock skew of the packet just refused after its HMAC passed; undefined for any other reject. */
  rejectDetail(screened: Screened): Record<string, unknown> | undefined {
    const verifier = screened.format === 'knockspa' ? this.knockspa : screened.format === 'ssh' ? (this.ssh as SshVerifier) : this.fwknop;
    return verifier.rejected.logFields();
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
export function packetFormats(
  config: ServerConfig,
  keyring: Keyring,
  replay: ReplayGuard,
  ssh: LoadedSshKeys | null = null,
): PacketFormats {
  const maxSkewMs = config.maxSkewSec * 1000;
  return new PacketFormats(
    new Verifier({ keyring, serverId: config.serverId, maxSkewMs, replay }),
    new FwknopVerifier({ keyring: fwknopKeyring(config), maxSkewMs, replay }),
    ssh === null ? null : new SshVerifier({ keyring: ssh.keyring, serverPrivate: ssh.serverKey.privateKey, maxSkewMs, replay }),
  );
}
