/**
 * The two packet formats on one port, told apart before any crypto: a knockspa v1 packet starts
 * with 0xCB (not a base64 character) and is 146 bytes; a fwknop packet is base64 text of at least
 * 161 characters. Each goes to its own verifier. Between each format's cheap checks and its first
 * HMAC stands the per-source authentication budget; fwknop packets, which cost one HMAC per
 * fwknop user (docs/protocol.md §8.3), also draw on a daemon-wide budget of HMAC trials.
 * @module
 */
import type { KnockFields } from '../../protocol/body.js';
import type { Keyring } from '../../protocol/keyring.js';
import { Verifier } from '../../protocol/packet.js';
import type { ReplayGuard } from '../../protocol/replay.js';
import { isBase64Byte } from '../../protocol/fwknop/base64.js';
import { MIN_PACKET_LENGTH as FWKNOP_MIN_LENGTH } from '../../protocol/fwknop/constants.js';
import { FwknopVerifier } from '../../protocol/fwknop/packet.js';
import { OVER_BUDGET, type AuthGate } from './auth-budget.js';
import type { ServerConfig } from '../config/config.js';
import { fwknopKeyring } from '../config/fwknop-users.js';
import { TokenBuckets } from './token-buckets.js';

/** A verified knock of either format: what the user policy needs, and where it came from. */
export interface Knock extends KnockFields {
  readonly user: string;
  /** The knockspa key that made it (fwknop packets name no key). */
  readonly keyIdHex?: string;
  /** Set for fwknop packets; knockspa packets leave it out. */
  readonly format?: 'fwknop';
}

export interface PacketVerifier {
  /**
   * The knock, or the reason it was refused. With a `gate`, a packet of either format that passes
   * the cheap checks is authenticated only if the gate admits `source` ({@link OVER_BUDGET}
   * otherwise), and the gate hears of every failed authentication.
   */
  verify(payload: Uint8Array, nowMs: number, source?: string, gate?: AuthGate): Knock | string;
}

/**
 * fwknop HMAC trials allowed per second, daemon-wide. One core manages 85,000 to 170,000 a second
 * (npm run bench:fwknop; 640 and 225 characters), so a flood of junk costs at most about a tenth of
 * a core, and there is still room for 10,000 fwknop packets a second with one fwknop user, 39 with
 * the maximum of 256.
 */
export const FWKNOP_TRIALS = { capacity: 10_000, refillPerSec: 10_000 } as const;

/** True if the datagram is to be taken for a fwknop packet. */
export function looksLikeFwknop(payload: Uint8Array): boolean {
  return payload.length >= FWKNOP_MIN_LENGTH && isBase64Byte(payload[0] as number);
}

/** The daemon-wide budget of fwknop HMAC trials; made once, so a reload does not refill it. */
export function fwknopTrials(now: () => number = Date.now): (trials: number) => boolean {
  const budget = new TokenBuckets({ ...FWKNOP_TRIALS, maxKeys: 1, now });
  return (trials) => budget.take('', trials);
}

export class PacketFormats implements PacketVerifier {
  // The fwknop packet being verified, for admitFwknop: bound once, so no closure per packet.
  private gate: AuthGate | undefined;
  private source = '';
  private admitted: boolean | undefined;
  /** Whether its HMACs were tried: only then can it count against its source as a failure. */
  private tried = false;
  private readonly admitFwknop = (trials: number): boolean => {
    this.admitted = this.gate?.admit(this.source) ?? true;
    this.tried = this.admitted && this.trials(trials);
    return this.tried;
  };

  constructor(
    private readonly knockspa: Verifier,
    private readonly fwknop: FwknopVerifier,
    /** The daemon-wide fwknop trial budget. */
    private readonly trials: (n: number) => boolean,
  ) {}

  verify(payload: Uint8Array, nowMs: number, source?: string, gate?: AuthGate): Knock | string {
    if (looksLikeFwknop(payload)) return this.verifyFwknop(payload, nowMs, source, gate);
    const entry = this.knockspa.screen(payload);
    if (typeof entry === 'string') return entry;
    if (gate === undefined || source === undefined) return this.knockspa.authenticate(payload, entry, nowMs);
    if (!gate.admit(source)) return OVER_BUDGET;
    const knock = this.knockspa.authenticate(payload, entry, nowMs);
    if (typeof knock === 'string') gate.failed(source);
    return knock;
  }

  /** The gate is asked where the verifier would start its HMAC trials, then the daemon-wide budget. */
  private verifyFwknop(payload: Uint8Array, nowMs: number, source?: string, gate?: AuthGate): Knock | string {
    if (gate === undefined || source === undefined) return this.fwknop.verify(payload, nowMs, this.trials);
    this.gate = gate;
    this.source = source;
    this.admitted = undefined;
    this.tried = false;
    const knock = this.fwknop.verify(payload, nowMs, this.admitFwknop);
    if (this.admitted === false) return OVER_BUDGET;
    // Not when the daemon-wide budget refused it: that is nobody's fault at this source.
    if (this.tried && typeof knock === 'string') gate.failed(source);
    return knock;
  }
}

/**
 * Both verifiers for a loaded config, sharing one replay guard and the fwknop trial budget
 * ({@link fwknopTrials}; the daemon passes the one it keeps across reloads).
 * Throws ConfigError if the config file holds fwknop keys and others can read it.
 */
export function packetFormats(config: ServerConfig, keyring: Keyring, replay: ReplayGuard, trials: (n: number) => boolean = fwknopTrials()): PacketFormats {
  const maxSkewMs = config.maxSkewSec * 1000;
  return new PacketFormats(
    new Verifier({ keyring, serverId: config.serverId, maxSkewMs, replay }),
    new FwknopVerifier({ keyring: fwknopKeyring(config), maxSkewMs, replay }),
    trials,
  );
}
