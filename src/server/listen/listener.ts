/**
 * What the daemon needs from a packet source: datagrams to the SPA port, with their source.
 * Two implementations: a bound UDP socket (udp.ts) and a capture that binds nothing (pcap.ts).
 * @module
 */

export interface Datagram {
  /** UDP payload. May be a view into a reused buffer: consume it before returning. */
  readonly payload: Uint8Array;
  /** Source address, canonical text. ::ffff:a.b.c.d stays IPv6: only an IPv4 packet has an IPv4 source. */
  readonly source: string;
  readonly sourcePort: number;
  /**
   * pcap: the UDP checksum, which reads every byte, so the daemon checks it only for datagrams that
   * pass the screen, and before anything else (udp mode: the kernel checked it; absent).
   */
  intact?(): boolean;
}

export interface Listener {
  /** Starts delivering datagrams; resolves once listening, rejects with a clear message if it cannot. */
  start(onDatagram: (datagram: Datagram) => void): Promise<void>;
  close(): Promise<void>;
  /** For the start-up log line, e.g. "udp 0.0.0.0:62201" or "pcap eth0 udp dst port 62201". */
  readonly description: string;
}
