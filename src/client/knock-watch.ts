/**
 * Sends a knock from a connected UDP socket and keeps it open while the client probes: the server
 * never answers a knock, but when nothing listens on the SPA port its kernel answers ICMP
 * port-unreachable, which a connected socket reports as ECONNREFUSED.
 * @module
 */
import { createSocket, type Socket } from 'node:dgram';
import { sendFailure } from './net-words.js';

export class KnockWatch {
  #socket: Socket | undefined;
  #refused!: (reason: string) => void;
  /** Resolves, with a sentence, if the server's kernel says nothing listens on the SPA port. */
  readonly refused: Promise<string> = new Promise((r) => (this.#refused = r));

  /** Sends `packet` to `address` udp/`port` (a {@link sendKnock} sender); rejects with the failure in words. */
  readonly send = (packet: Uint8Array, address: string, family: 4 | 6, port: number): Promise<void> =>
    new Promise((resolvePromise, reject) => {
      this.close();
      const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
      this.#socket = socket;
      let sent = false;
      const fail = (err: Error): void => {
        this.close();
        reject(new Error(sendFailure(address, 'udp', port, err)));
      };
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (sent && err.code === 'ECONNREFUSED')
          this.#refused(`no knockspa daemon is listening on udp/${port} at ${address} (it answered the knock with ICMP port-unreachable)`);
        else if (!sent) fail(err);
      });
      try {
        socket.connect(port, address, (err?: Error) => {
          if (err) return fail(err);
          socket.send(packet, (err) => {
            if (err) return fail(err);
            sent = true;
            resolvePromise();
          });
        });
      } catch (err) {
        this.close();
        reject(err instanceof Error ? err : new Error(String(err))); // a bad port: dgram throws at once
      }
    });

  /** Stops listening (idempotent). */
  close(): void {
    try {
      this.#socket?.close();
    } catch {
      // already closed
    }
    this.#socket = undefined;
  }
}
