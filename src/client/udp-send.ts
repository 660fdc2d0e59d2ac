/**
 * Sends one UDP datagram from an ephemeral port and closes the socket.
 * @module
 */
import { createSocket } from 'node:dgram';

/** Sends one datagram to `address` (an IP address of `family`, not a name). */
export function sendDatagram(packet: Uint8Array, address: string, family: 4 | 6, port: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    const fail = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', fail);
    try {
      socket.send(packet, port, address, (err) => {
        if (err) return fail(err);
        socket.close();
        resolvePromise();
      });
    } catch (err) {
      fail(err as Error); // a bad port: dgram throws at once
    }
  });
}
