/**
 * Sends one knock: resolves the host, seals a packet with a fresh nonce and the current time,
 * and sends it as one UDP datagram. No answer is expected: the server never replies.
 * @module
 */
import type { KnockFields } from '../protocol/body.js';
import type { UserKey } from '../protocol/keys.js';
import { parseIp } from '../protocol/address.js';
import { NONCE_SIZE } from '../protocol/constants.js';
import { sealPacket } from '../protocol/packet.js';
import { checkAllowIp } from './allow-ip.js';
import { secureRandomBytes } from './random.js';
import { resolveFailure, sendFailure } from './net-words.js';
import { sendDatagram } from './udp-send.js';

/** Sends one datagram (the default: from a fresh socket, closed at once; {@link KnockWatch} keeps it open). */
export type DatagramSender = (packet: Uint8Array, address: string, family: 4 | 6, port: number) => Promise<void>;

/**
 * What to check when a knock seems to have opened nothing, most likely first (the server never
 * answers, so these are guesses; the caller says first what it did observe).
 */
export const KNOCK_HINTS = [
  'the knockspa daemon is not running on the server (systemctl status knockspa), or listens on another port (--spa-port)',
  'wrong host or server id: the knock went to another machine, or the key is bound to another server id (--server-id)',
  'the SPA port is blocked on the way (a firewall dropping UDP to it)',
  "the clocks differ by more than the server's max_skew (check: date -u on both sides)",
  'the key is not the one the server has for this user',
  'the user may not open this port (server config [users.NAME] ports)',
];

export interface KnockTarget {
  readonly host: string;
  readonly spaPort: number;
  /** Prefer this address family when the host has both. */
  readonly family?: 4 | 6;
}

export interface SentKnock {
  readonly address: string;
  readonly family: 4 | 6;
  readonly packet: Uint8Array;
}

export async function resolveHost(host: string, family?: 4 | 6): Promise<{ address: string; family: 4 | 6 }> {
  const literal = parseIp(host);
  if (literal !== null) return { address: host, family: literal.family };
  // Loaded only for a host name: an address, the common case, needs no resolver.
  const { lookup } = await import('node:dns/promises');
  const found = await lookup(host, family === undefined ? {} : { family }).catch((err: unknown) => {
    throw new Error(resolveFailure(host, err));
  });
  return { address: found.address, family: found.family as 4 | 6 };
}

/** Builds the packet for `fields` (minus the timestamp, taken now) and sends it. */
export async function sendKnock(
  key: UserKey,
  fields: Omit<KnockFields, 'timestampMs'>,
  target: KnockTarget,
  serverId?: string,
  send: DatagramSender = sendDatagram,
): Promise<SentKnock> {
  const { address, family } = await resolveHost(target.host, target.family);
  checkAllowIp(fields.allowIp, address);
  const packet = sealPacket(key, { ...fields, timestampMs: Date.now() }, secureRandomBytes(NONCE_SIZE), serverId ?? key.serverId);
  await send(packet, address, family, target.spaPort).catch((err: unknown) => {
    throw err instanceof Error && !('code' in err) ? err : new Error(sendFailure(address, 'udp', target.spaPort, err));
  });
  return { address, family, packet };
}
