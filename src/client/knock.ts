/**
 * Sends one knock: resolves the host, seals a packet with a fresh nonce and the current time,
 * and sends it as one UDP datagram. No answer is expected: the server never replies.
 * @module
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { KnockFields } from '../protocol/body.js';
import type { UserKey } from '../protocol/keys.js';
import { NONCE_SIZE } from '../protocol/constants.js';
import { sealPacket } from '../protocol/packet.js';
import { secureRandomBytes } from './random.js';

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
  const literal = isIP(host);
  if (literal !== 0) return { address: host, family: literal as 4 | 6 };
  // Loaded only for a host name: an address, the common case, needs no resolver. Not import():
  // the bundle runs from a code cache, where import() cannot work (src/code-cache.cts).
  const { lookup } = process.getBuiltinModule('node:dns/promises');
  const found = await lookup(host, family === undefined ? {} : { family });
  return { address: found.address, family: found.family as 4 | 6 };
}

/**
 * dgram's address lookup for an address that is already an IP (resolveHost made it one): with its
 * default, dgram loads node's resolver (the dns module, a c-ares channel) only to pass it through.
 */
function ipLookup(address: string, _options: unknown, callback: (err: null, address: string, family: number) => void): void {
  process.nextTick(callback, null, address, isIP(address));
}

/** Sends one UDP datagram to `address` (an IP address, not a name) and closes the socket. */
export function sendDatagram(packet: Uint8Array, address: string, family: 4 | 6, port: number): Promise<void> {
  const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: ipLookup });
  return new Promise((resolvePromise, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.send(packet, port, address, (err) => {
      socket.close();
      if (err) reject(err);
      else resolvePromise();
    });
  });
}

/** Builds the packet for `fields` (minus the timestamp, taken now) and sends it. */
export async function sendKnock(key: UserKey, fields: Omit<KnockFields, 'timestampMs'>, target: KnockTarget, serverId?: string): Promise<SentKnock> {
  const { address, family } = await resolveHost(target.host, target.family);
  const packet = sealPacket(key, { ...fields, timestampMs: Date.now() }, secureRandomBytes(NONCE_SIZE), serverId ?? key.serverId);
  await sendDatagram(packet, address, family, target.spaPort);
  return { address, family, packet };
}
