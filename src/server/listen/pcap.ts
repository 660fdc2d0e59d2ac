/**
 * Listener that sniffs the SPA port with libpcap (optional npm module `pcap`, node_pcap 3.x)
 * instead of binding it: no socket exists, so the port looks closed (ICMP unreachable / nothing)
 * to a scanner even while knocks are being read. Frames are decoded by frame.ts.
 * @module
 */

import { endianness } from 'node:os';
import { isSupportedLinkType, parseFrame } from './frame.js';
import type { Datagram, Listener } from './listener.js';

/** What we use of node_pcap (it ships no usable types for ESM + dynamic import). */
interface PcapPacket {
  /** Reused for every packet and snap_length long: only the first caplen bytes are this packet. */
  readonly buf: Buffer;
  /** ts_sec, ts_usec, caplen, len: 4 bytes each, host byte order (pcap_session.cc PacketReady). */
  readonly header: Buffer;
}
interface PcapSession {
  /** "LINKTYPE_ETHERNET" etc., or "Unknown linktype N" for the rest (e.g. 276, SLL2). */
  readonly link_type: string;
  on(event: 'packet', listener: (packet: PcapPacket) => void): unknown;
  close(): void;
}
interface PcapSessionOptions {
  filter: string;
  snap_length: number;
  buffer_size: number;
  buffer_timeout: number;
  promiscuous: boolean;
  monitor: boolean;
}
export interface PcapModule {
  createSession(device: string, options: PcapSessionOptions): PcapSession;
  warningHandler: (message: string) => void;
}

export interface PcapListenerOptions {
  readonly interface: string;
  readonly port: number;
  /** Loads node_pcap; tests replace it. */
  readonly load?: () => Promise<PcapModule>;
}

/**
 * knockspa knocks are 146 bytes, fwknop ones at most 640 (docs/protocol.md §8.3); 1024 leaves room
 * for any link header, VLAN tags, IP options and IPv6 extension headers.
 */
const SNAP_LENGTH = 1024;
/** Kernel ring for bursts: ~2000 small frames. The 10 MB node_pcap default is wasted here. */
const BUFFER_SIZE = 1 << 20;

const LINK_TYPES: Record<string, number> = {
  LINKTYPE_NULL: 0,
  LINKTYPE_ETHERNET: 1,
  LINKTYPE_RAW: 12,
  LINKTYPE_LINUX_SLL: 113,
};

export const PCAP_MISSING =
  'listen = "pcap" needs the optional pcap module: apt-get install libpcap-dev && npm install pcap (or use listen = "udp")';

async function loadPcap(): Promise<PcapModule> {
  const name = 'pcap'; // not a literal: the build and the module graph must not require it
  const mod = (await import(name)) as { default?: PcapModule } & PcapModule;
  return mod.default ?? mod; // CommonJS: module.exports is the default export
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}

export class PcapListener implements Listener {
  readonly #interface: string;
  readonly #port: number;
  readonly #load: () => Promise<PcapModule>;
  #session: PcapSession | undefined;

  constructor(options: PcapListenerOptions) {
    this.#interface = options.interface;
    this.#port = options.port;
    this.#load = options.load ?? loadPcap;
  }

  get #filter(): string {
    // IPv4 non-first fragments never match (libpcap checks the offset); IPv6 ones and first
    // fragments do, and frame.ts drops them.
    return `udp dst port ${this.#port}`;
  }

  get description(): string {
    return `pcap ${this.#interface} ${this.#filter}`;
  }

  async start(onDatagram: (datagram: Datagram) => void): Promise<void> {
    if (this.#session !== undefined) throw new Error(`${this.description}: already started`);
    if (!Number.isInteger(this.#port) || this.#port < 1 || this.#port > 65535) throw new Error(`pcap: port must be 1-65535, not ${this.#port}`);

    let pcap: PcapModule;
    try {
      pcap = await this.#load();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ERR_MODULE_NOT_FOUND' && /'pcap'/.test(e.message)) throw new Error(PCAP_MISSING);
      // Installed but unusable: usually the native part was never built or libpcap is gone.
      throw new Error(`${PCAP_MISSING}; loading it failed: ${firstLine(e.message)}`);
    }
    // node_pcap prints pcap_lookupnet failures (e.g. "any: no IPv4 address assigned") with
    // console.warn. The netmask only matters for "broadcast" filters, so they are noise here.
    pcap.warningHandler = () => undefined;

    let session: PcapSession;
    try {
      session = pcap.createSession(this.#interface, {
        filter: this.#filter,
        snap_length: SNAP_LENGTH,
        buffer_size: BUFFER_SIZE,
        // 0 makes node_pcap call pcap_set_immediate_mode(1): each packet is delivered as it
        // arrives instead of when a buffer fills or a timeout (default 1 s) expires.
        buffer_timeout: 0,
        promiscuous: false, // node_pcap's default is true; we only want packets for this host
        monitor: false,
      });
    } catch (err) {
      const message = firstLine((err as Error).message);
      const hint = /permission|not permitted/i.test(message) ? ' (needs root or CAP_NET_RAW)' : '';
      throw new Error(`cannot capture on interface "${this.#interface}": ${message}${hint}`);
    }

    const linkType = LINK_TYPES[session.link_type] ?? Number(/^Unknown linktype (\d+)$/.exec(session.link_type)?.[1] ?? -1);
    if (!isSupportedLinkType(linkType)) {
      session.close();
      throw new Error(
        `cannot capture on interface "${this.#interface}": link type ${session.link_type} is not supported (Ethernet, Linux cooked, raw IP or loopback)`,
      );
    }

    const port = this.#port;
    const little = endianness() === 'LE';
    session.on('packet', (packet) => {
      const caplen = little ? packet.header.readUInt32LE(8) : packet.header.readUInt32BE(8);
      const datagram = parseFrame(linkType, packet.buf, caplen);
      // The filter already matched the port; checking again costs nothing and guards the parser.
      if (datagram !== null && datagram.destPort === port) onDatagram(datagram);
    });
    this.#session = session;
  }

  /**
   * Stops delivery at once. node_pcap 3.1.0 limitation: close() only calls pcap_breakloop;
   * the libuv poll on the capture socket is released (pcap_close) at the next packet that
   * matches the filter, so until then the open handle keeps the event loop - and the
   * process - alive. Exit explicitly after closing.
   */
  close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    session?.close(); // also removes our 'packet' listener
    return Promise.resolve();
  }
}
