/**
 * Listener that sniffs the SPA port with libpcap (optional npm module `pcap`, node_pcap 3.x)
 * instead of binding it: no socket exists, so the port looks closed (ICMP unreachable / nothing)
 * to a scanner even while knocks are being read. Frames are decoded by frame.ts.
 * @module
 */

import { readFileSync } from 'node:fs';
import { endianness, networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { classifyAddress } from '../../protocol/address-class.js';
import { canonicalIp } from '../../protocol/address.js';
import { captureFilter, type KernelScreen } from '../firewall/screen.js';
import { isSupportedLinkType, localAddresses, parseFrame, type HostFilter } from './frame.js';
import type { Datagram, Listener } from './listener.js';

/** What we use of node_pcap (it ships no usable types for ESM + dynamic import). */
interface PcapPacket {
  /** Reused for every packet and snap_length long: only the first caplen bytes are this packet. */
  readonly buf: Buffer;
  /** ts_sec, ts_usec, caplen, len: 4 bytes each, host byte order (pcap_session.cc PacketReady). */
  readonly header: Buffer;
}
/** node_pcap's native session (pcap_session.cc): what pcap.js calls when the capture fd is readable. */
interface PcapBinding {
  read_callback: () => void;
  /** pcap_dispatch until empty: packets read; -2 once close() broke the loop (the handle is then released). */
  dispatch(buf: Buffer, header: Buffer): number;
}
interface PcapSession {
  /** "LINKTYPE_ETHERNET" etc., or "Unknown linktype N" for the rest (e.g. 276, SLL2). */
  readonly link_type: string;
  on(event: 'packet', listener: (packet: PcapPacket) => void): unknown;
  close(): void;
  stats?(): { ps_recv: number };
  readonly session?: PcapBinding;
  readonly buf?: Buffer;
  readonly header?: Buffer;
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
  /** Length and magic of the kernel screen for the capture filter (firewall/screen.ts); none: the port only. */
  readonly screen?: KernelScreen | null;
  /** Loads node_pcap; tests replace it. */
  readonly load?: () => Promise<PcapModule>;
  /** Check frames as the kernel would for a socket (frame.ts HostFilter); tests of the decoding alone turn it off. */
  readonly checkHost?: boolean;
  /** Where the capture's loss and recovery are logged. */
  readonly log?: Pick<Logger, 'error' | 'info'>;
  /** The capture is lost and could not be reopened: the daemon must exit non-zero. */
  readonly onFatal?: (err: Error) => void;
}

/** How long a lost capture is retried (the interface down or gone) before giving up. */
export const RECOVER_WITHIN_MS = 60_000;
const HEALTH_EVERY_MS = 1_000;
const EMPTY_READ_LOOK_MS = 100;
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;
const IFF_UP = 0x1;

function validName(name: string): boolean {
  return /^[^/\0]{1,15}$/.test(name) && name !== '.' && name !== '..';
}

/** The interface's ifindex and whether it is up, from sysfs; null if it does not exist (or sysfs is unreadable). */
function interfaceState(name: string): { ifindex: number; up: boolean } | null {
  if (!validName(name)) return null;
  try {
    const ifindex = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));
    const flags = Number(readFileSync(`/sys/class/net/${name}/flags`, 'utf8'));
    return { ifindex, up: (flags & IFF_UP) !== 0 };
  } catch {
    return null;
  }
}

/** Operationally up (the kernel's IFF_RUNNING: operstate "up", or "unknown" for links without carrier, like lo)? */
function interfaceRunning(name: string): boolean {
  if (!validName(name)) return false;
  try {
    const operstate = readFileSync(`/sys/class/net/${name}/operstate`, 'utf8').trim();
    return operstate === 'up' || operstate === 'unknown';
  } catch {
    return false;
  }
}

/**
 * knockspa knocks are 146 bytes, fwknop ones at most 640 (docs/protocol.md §8.3); 1024 leaves room
 * for any link header and IP options. (VLAN-tagged frames and IPv6 extension headers are not
 * acted on: docs/operations.md, what pcap mode acts on.)
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

export async function loadPcap(): Promise<PcapModule> {
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
  readonly #log: Pick<Logger, 'error' | 'info'> | undefined;
  readonly #onFatal: ((err: Error) => void) | undefined;
  readonly #checkHost: boolean;
  #pcap: PcapModule | undefined;
  #onDatagram: (datagram: Datagram) => void = () => undefined;
  #session: PcapSession | undefined;
  /** What the health check compares: the interface the session was opened on, packets seen. */
  #ifindex: number | undefined;
  #matched = 0;
  #screen: KernelScreen | null;
  #lastRecv = 0;
  #lastMatched = 0;
  #health: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #lostAt: number | undefined;
  /** When an empty read last prompted a look at the interface. */
  #lookedAt = 0;
  #lastPacketAt: number | undefined;
  #closed = false;
  /** This host's addresses and the interface's MAC, refreshed by the health check. */
  #host: HostFilter = { mac: null, isLocalAt: () => false };

  constructor(options: PcapListenerOptions) {
    this.#interface = options.interface;
    this.#port = options.port;
    this.#screen = options.screen ?? null;
    this.#load = options.load ?? loadPcap;
    this.#log = options.log;
    this.#onFatal = options.onFatal;
    this.#checkHost = options.checkHost ?? true;
  }

  get #filter(): string {
    // IPv4 non-first fragments never match (libpcap checks the offset); IPv6 ones and first
    // fragments do, and frame.ts drops them.
    return captureFilter(this.#port, this.#screen);
  }

  get description(): string {
    return `pcap ${this.#interface} ${this.#filter}`;
  }

  /** When the capture last delivered a frame to the SPA port (ms since the epoch); undefined if never. */
  get lastPacketAt(): number | undefined {
    return this.#lastPacketAt;
  }

  async start(onDatagram: (datagram: Datagram) => void): Promise<void> {
    if (this.#session !== undefined || this.#pcap !== undefined) throw new Error(`${this.description}: already started`);
    if (!Number.isInteger(this.#port) || this.#port < 1 || this.#port > 65535)
      throw new Error(`pcap: port must be 1-65535, not ${this.#port}`);

    let pcap: PcapModule;
    try {
      pcap = await this.#load();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ERR_MODULE_NOT_FOUND' && /'pcap'/.test(e.message)) throw new Error(PCAP_MISSING, { cause: err });
      // Installed but unusable: usually the native part was never built or libpcap is gone.
      throw new Error(`${PCAP_MISSING}; loading it failed: ${firstLine(e.message)}`, { cause: err });
    }
    // node_pcap prints pcap_lookupnet failures (e.g. "any: no IPv4 address assigned") with
    // console.warn. The netmask only matters for "broadcast" filters, so they are noise here.
    pcap.warningHandler = () => undefined;
    this.#pcap = pcap;
    this.#onDatagram = onDatagram;
    try {
      this.#session = this.#open();
    } catch (err) {
      this.#pcap = undefined;
      throw err;
    }
    this.#health = setInterval(() => this.#checkHealth(), HEALTH_EVERY_MS);
    this.#health.unref();
  }

  /**
   * What a socket would accept: frames to this host's addresses (loopback ones only on "lo"),
   * on Ethernet unicast to this interface's MAC.
   */
  #refreshHost(): void {
    const local = new Set<string>();
    let mac: Uint8Array | null = null;
    const onLoopback = this.#interface === 'lo' || this.#interface === 'any';
    for (const [name, infos] of Object.entries(networkInterfaces())) {
      for (const info of infos ?? []) {
        const zone = info.address.indexOf('%');
        const address = canonicalIp(zone < 0 ? info.address : info.address.slice(0, zone));
        if (address === null || (classifyAddress(address) === 'loopback' && !onLoopback)) continue;
        local.add(address);
        if (name === this.#interface && info.mac !== '00:00:00:00:00:00')
          mac = Uint8Array.from(info.mac.split(':').map((h) => parseInt(h, 16)));
      }
    }
    this.#host = { mac, isLocalAt: localAddresses(local) };
  }

  #open(): PcapSession {
    const pcap = this.#pcap as PcapModule;
    this.#refreshHost();
    const state = interfaceState(this.#interface);
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
      throw new Error(`cannot capture on interface "${this.#interface}": ${message}${hint}`, { cause: err });
    }

    guardDispatch(session);
    const linkType = LINK_TYPES[session.link_type] ?? Number(/^Unknown linktype (\d+)$/.exec(session.link_type)?.[1] ?? -1);
    if (!isSupportedLinkType(linkType)) {
      release(session);
      throw new Error(
        `cannot capture on interface "${this.#interface}": link type ${session.link_type} is not supported (Ethernet, Linux cooked, raw IP or loopback)`,
      );
    }

    const port = this.#port;
    const little = endianness() === 'LE';
    session.on('packet', (packet) => {
      this.#matched++;
      this.#lastPacketAt = Date.now();
      const caplen = little ? packet.header.readUInt32LE(8) : packet.header.readUInt32BE(8);
      const datagram = parseFrame(linkType, packet.buf, caplen, this.#checkHost ? this.#host : undefined);
      // The filter already matched the port; checking again costs nothing and guards the parser.
      // The daemon calls datagram.intact() (the UDP checksum) after its screen, before this returns.
      if (datagram !== null && datagram.destPort === port) this.#onDatagram(datagram);
    });
    // When the link goes down (or the interface goes away) the capture socket reports an error:
    // libuv stops polling it for good and node_pcap's callback reads nothing, once. An empty read
    // also happens under load (the previous read drained the ring), so it only prompts a look at
    // the interface, which is still down or gone when the error is reported.
    const binding = session.session;
    if (binding !== undefined && session.buf !== undefined && session.header !== undefined) {
      const { buf, header } = session;
      binding.read_callback = () => {
        if (binding.dispatch(buf, header) !== 0 || this.#session !== session) return;
        // Reading sysfs costs far more than a frame: at most one look per EMPTY_READ_LOOK_MS (a
        // skipped one is made by the health check within a second).
        const now = Date.now();
        if (now - this.#lookedAt < EMPTY_READ_LOOK_MS) return;
        this.#lookedAt = now;
        this.#checkInterface();
      };
    }
    this.#ifindex = state?.ifindex;
    this.#lastRecv = session.stats?.().ps_recv ?? 0;
    this.#lastMatched = this.#matched;
    return session;
  }

  /** Is the interface gone, replaced (another ifindex) or down? Then the capture is lost. */
  #checkInterface(): boolean {
    if (this.#ifindex === undefined) return false; // sysfs unreadable: only the stall check
    const state = interfaceState(this.#interface);
    const reason =
      state === null ? 'interface-gone' : state.ifindex !== this.#ifindex ? 'interface-replaced' : !state.up ? 'interface-down' : null;
    if (reason !== null) this.#lost(reason);
    return reason !== null;
  }

  /** Once a second: the interface still the one captured on and up, and no frame left unread. */
  #checkHealth(): void {
    const session = this.#session;
    if (session === undefined || this.#lostAt !== undefined) return;
    this.#refreshHost();
    if (this.#checkInterface()) return;
    let recv: number;
    try {
      recv = session.stats?.().ps_recv ?? this.#lastRecv;
    } catch {
      return this.#lost('capture-error');
    }
    // The kernel counted frames for us, none was read since the last check: nobody is polling.
    const stalled = recv !== this.#lastRecv && this.#matched === this.#lastMatched;
    this.#lastRecv = recv;
    this.#lastMatched = this.#matched;
    if (stalled) this.#lost('capture-stalled');
  }

  /** The capture is lost: log it, and reopen it with backoff once the interface is back up. */
  #lost(reason: string): void {
    if (this.#closed || this.#lostAt !== undefined) return;
    const lostAt = Date.now();
    this.#lostAt = lostAt;
    const old = this.#session;
    this.#session = undefined;
    if (old !== undefined) release(old);
    this.#log?.error(
      { event: 'listener-error', listener: this.description, reason, lastPacketAt: toIso(this.#lastPacketAt) },
      'capture lost; reopening it when the interface is back',
    );
    let delay = RETRY_FIRST_MS;
    let lastError = `interface "${this.#interface}" is down, without carrier or gone`;
    const attempt = (): void => {
      this.#retry = undefined;
      if (this.#closed) return;
      // Up is not enough: the carrier (operstate) follows up to a second later, and until then
      // os.networkInterfaces() leaves the interface out, so the host's addresses on it would be
      // missing from the refreshed host filter and the first knocks after the recovery dropped.
      if (interfaceState(this.#interface)?.up === true && interfaceRunning(this.#interface)) {
        try {
          this.#session = this.#open();
          this.#lostAt = undefined;
          this.#log?.info(
            { event: 'listener-recovered', listener: this.description, reason, downMs: Date.now() - lostAt },
            'capture reopened',
          );
          return;
        } catch (err) {
          lastError = (err as Error).message;
        }
      }
      if (Date.now() - lostAt >= RECOVER_WITHIN_MS) {
        const err = new Error(
          `${this.description}: capture lost (${reason}) and not reopened within ${RECOVER_WITHIN_MS / 1000} s: ${lastError}`,
        );
        this.#log?.error(
          { event: 'listener-failed', listener: this.description, reason, error: err.message },
          'cannot receive knocks; exiting',
        );
        this.#onFatal?.(err);
        return;
      }
      this.#retry = setTimeout(attempt, delay);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    };
    attempt();
  }

  /** Stops delivery at once and releases the capture. */
  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#health);
    clearTimeout(this.#retry);
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) release(session);
    return Promise.resolve();
  }
}

function toIso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/**
 * Once dispatch has returned -2 node_pcap has freed the libpcap handle, and another dispatch
 * would use it after free: every later call (node_pcap's own kick-start included, which looks
 * dispatch up at call time) returns -2 without reaching it.
 */
function guardDispatch(session: PcapSession): void {
  const binding = session.session;
  if (binding === undefined) return;
  const native = binding.dispatch.bind(binding);
  let released = false;
  binding.dispatch = (buf, header) => {
    if (released) return -2;
    const n = native(buf, header);
    if (n === -2) released = true;
    return n;
  };
}

/**
 * node_pcap 3.1.0: close() only calls pcap_breakloop; the handle (and the libuv poll that keeps
 * the process alive) is released by the next dispatch, which then returns -2. Dispatch once now.
 */
function release(session: PcapSession): void {
  session.close(); // also removes our 'packet' listener
  try {
    if (session.buf !== undefined && session.header !== undefined) session.session?.dispatch(session.buf, session.header);
  } catch {
    // already released
  }
}
