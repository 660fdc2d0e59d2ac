/**
 * Listener on a bound UDP socket (node:dgram). Receive-only: the daemon never answers a knock,
 * so nothing here ever calls send() or connect() - a silent port reveals nothing to scanners.
 * @module
 */

import * as dgram from 'node:dgram';
import { isIP } from 'node:net';
import { canonicalIp } from '../../protocol/address.js';
import type { Datagram, Listener } from './listener.js';

export interface UdpListenerOptions {
  /** "0.0.0.0", "::" (dual stack), or one local address. */
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

export class UdpListener implements Listener {
  readonly #address: string;
  readonly #port: number;
  #socket: dgram.Socket | undefined;

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
      return this.#socket?.getRecvBufferSize() ?? null;
    } catch {
      return null;
    }
  }

  /** The port actually bound (differs from the configured one when that was 0); null unless listening. */
  get boundPort(): number | null {
    try {
      return this.#socket?.address().port ?? null;
    } catch {
      return null; // not bound (yet, or any more)
    }
  }

  start(onDatagram: (datagram: Datagram) => void): Promise<void> {
    const family = isIP(this.#address);
    if (this.#socket !== undefined) return Promise.reject(new Error(`udp listener ${this.#endpoint(this.#port)} already started`));
    if (family === 0) return Promise.reject(this.#bindError('not an IP address'));
    if (!Number.isInteger(this.#port) || this.#port < 0 || this.#port > 65535) return Promise.reject(this.#bindError('port must be 0-65535'));

    // ipv6Only false: "::" then also receives IPv4, reported as ::ffff:a.b.c.d (folded below).
    // (The kernel default still applies if sysctl net.ipv6.bindv6only = 1.)
    const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: false });
    this.#socket = socket;
    return new Promise((resolve, reject) => {
      const onBindError = (err: NodeJS.ErrnoException): void => {
        this.#socket = undefined;
        try {
          socket.close();
        } catch {
          // never bound, nothing to release
        }
        const code = err.code ?? '';
        const hint = BIND_HINTS[code];
        reject(this.#bindError(code !== '' ? `${code}${hint === undefined ? '' : ` (${hint})`}` : err.message));
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
          const zone = address.indexOf('%');
          const source = canonicalIp(zone < 0 ? address : address.slice(0, zone));
          if (source !== null) onDatagram({ payload, source, sourcePort: rinfo.port });
        });
        resolve();
      });
      socket.bind({ address: this.#address, port: this.#port, exclusive: true });
    });
  }

  close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }

  #endpoint(port: number): string {
    return isIP(this.#address) === 6 ? `[${this.#address}]:${port}` : `${this.#address}:${port}`;
  }

  #bindError(reason: string): Error {
    return new Error(`cannot bind UDP ${this.#endpoint(this.#port)}: ${reason}`);
  }
}
