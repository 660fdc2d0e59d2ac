/**
 * Listener on a bound UDP socket (node:dgram). Receive-only: the daemon never answers a knock,
 * so nothing here ever calls send() or connect() - a silent port reveals nothing to scanners.
 * @module
 */

import * as dgram from 'node:dgram';
import { isIP } from 'node:net';
import { canonicalIp, formatIp, parseIp } from '../../protocol/address.js';
import type { Datagram, Listener } from './listener.js';

export interface UdpListenerOptions {
  /** "0.0.0.0", "::" (IPv6 and IPv4, as two sockets), or one local address. */
  readonly address: string;
  /** 0 picks an ephemeral port (tests); see boundPort. */
  readonly port: number;
}

/** Receive buffer asked for: thousands of queued datagrams, so a burst or a flood is not dropped at once. */
export const RECV_BUFFER_BYTES = 4 << 20;

/** Why a bind usually fails, for the one-line error. */
const BIND_HINTS: Record<string, string> = {
  EADDRINUSE: 'another process has the port',
  EACCES: 'ports below 1024 need root or CAP_NET_BIND_SERVICE',
  EADDRNOTAVAIL: 'no local interface has that address',
  EAFNOSUPPORT: 'IPv6 is disabled on this host',
};

function zoneless(address: string): string {
  const zone = address.indexOf('%');
  return zone < 0 ? address : address.slice(0, zone);
}

export class UdpListener implements Listener {
  readonly #address: string;
  readonly #port: number;
  /** One, or for "::" an IPv6-only and an IPv4 socket on the same port. */
  readonly #sockets: dgram.Socket[] = [];

  constructor(options: UdpListenerOptions) {
    this.#address = options.address;
    this.#port = options.port;
  }

  get description(): string {
    return `udp ${this.#endpoint(this.boundPort ?? this.#port)}`;
  }

  /** The socket's receive buffer in bytes as the kernel reports it; null unless listening. */
  get recvBufferBytes(): number | null {
    try {
      return this.#sockets[0]?.getRecvBufferSize() ?? null;
    } catch {
      return null;
    }
  }

  /** The port actually bound (differs from the configured one when that was 0); null unless listening. */
  get boundPort(): number | null {
    try {
      return this.#sockets[0]?.address().port ?? null;
    } catch {
      return null; // not bound (yet, or any more)
    }
  }

  async start(onDatagram: (datagram: Datagram) => void): Promise<void> {
    const family = isIP(this.#address);
    if (this.#sockets.length > 0) throw new Error(`udp listener ${this.#endpoint(this.#port)} already started`);
    if (family === 0) throw this.#bindError('not an IP address');
    if (!Number.isInteger(this.#port) || this.#port < 0 || this.#port > 65535) throw this.#bindError('port must be 0-65535');
    // "::" is dual stack as two sockets, IPv6-only and IPv4: an IPv4 source then only ever comes
    // from an IPv4 packet (with the kernel's IPv4 reverse-path and martian checks), never from an
    // IPv6 packet whose source is ::ffff:a.b.c.d.
    const wildcard6 = family === 6 && canonicalIp(this.#address) === '::';
    const first = await this.#bind(this.#address, family === 6 ? 'udp6' : 'udp4', this.#port, onDatagram);
    this.#sockets.push(first);
    if (!wildcard6) return;
    try {
      this.#sockets.push(await this.#bind('0.0.0.0', 'udp4', first.address().port, onDatagram));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  #bind(address: string, type: 'udp4' | 'udp6', port: number, onDatagram: (datagram: Datagram) => void): Promise<dgram.Socket> {
    const socket = dgram.createSocket(type === 'udp6' ? { type, ipv6Only: true } : { type });
    return new Promise((resolve, reject) => {
      const onBindError = (err: NodeJS.ErrnoException): void => {
        try {
          socket.close();
        } catch {
          // never bound, nothing to release
        }
        const code = err.code ?? '';
        const hint = BIND_HINTS[code];
        reject(this.#bindError(code !== '' ? `${code}${hint === undefined ? '' : ` (${hint})`}` : err.message, address, port));
      };
      socket.once('error', onBindError);
      socket.once('listening', () => {
        socket.off('error', onBindError);
        // Receive errors after bind carry no datagram and need no action; without a listener
        // an 'error' event would crash the daemon.
        socket.on('error', () => undefined);
        // Room for bursts (a flood must not push a real knock out of a full queue); the kernel caps
        // it at net.core.rmem_max. Failing to enlarge it is not fatal.
        try {
          socket.setRecvBufferSize(RECV_BUFFER_BYTES);
        } catch {
          // the default buffer stays
        }
        socket.on('message', (payload, rinfo) => {
          const address = rinfo.address;
          // The kernel writes IPv4 sources as canonical dotted quads already: skip the parse (per packet).
          if (rinfo.family === 'IPv4') return onDatagram({ payload, source: address, sourcePort: rinfo.port });
          // Link-local peers come as "fe80::1%eth0"; the zone is not part of the address.
          // Not folded: on an IPv6-only socket ::ffff:a.b.c.d is an IPv6 packet posing as IPv4,
          // and the address policy refuses it as such.
          const ip = parseIp(zoneless(address));
          if (ip !== null) onDatagram({ payload, source: formatIp(ip), sourcePort: rinfo.port });
        });
        resolve(socket);
      });
      socket.bind({ address, port, exclusive: true });
    });
  }

  async close(): Promise<void> {
    const sockets = this.#sockets.splice(0);
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            try {
              socket.close(() => resolve());
            } catch {
              resolve(); // already closed
            }
          }),
      ),
    );
  }

  #endpoint(port: number): string {
    return isIP(this.#address) === 6 ? `[${this.#address}]:${port}` : `${this.#address}:${port}`;
  }

  #bindError(reason: string, address = this.#address, port = this.#port): Error {
    return new Error(`cannot bind UDP ${isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`}: ${reason}`);
  }
}
