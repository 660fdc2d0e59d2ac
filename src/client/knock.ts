/**
 * Sends one knock: resolves the host, seals a packet with a fresh nonce and the current time,
 * and sends it as one UDP datagram. No answer is expected: the server never replies.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { KnockFields } from '../protocol/body.js';
import type { UserKey } from '../protocol/keys.js';
import { NONCE_SIZE } from '../protocol/constants.js';
import { sealPacket } from '../protocol/packet.js';

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
  const found = await lookup(host, family === undefined ? {} : { family });
  return { address: found.address, family: found.family as 4 | 6 };
}

/** Sends one UDP datagram and closes the socket. */
export function sendDatagram(packet: Uint8Array, address: string, family: 4 | 6, port: number): Promise<void> {
  const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
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
  const packet = sealPacket(key, { ...fields, timestampMs: Date.now() }, new Uint8Array(randomBytes(NONCE_SIZE)), serverId ?? key.serverId);
  await sendDatagram(packet, address, family, target.spaPort);
  return { address, family, packet };
}
