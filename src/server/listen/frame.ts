/**
 * Captured link-layer frame -> the UDP datagram inside it, for the pcap listener.
 * Pure and total: returns null for anything that is not one complete, unfragmented UDP-over-IP
 * datagram, never throws, and allocates only the result object, the payload view and the source text.
 * With a HostFilter the checks run cheapest first (MAC, header fields, destination address read in
 * place); the UDP checksum, which reads every byte, is left to UdpDatagram.intact(), which the
 * daemon calls only for datagrams that passed its screen and before acting on any.
 * IPv6 extension headers are not walked: such packets are dropped, as the BPF filter
 * "udp dst port N" already does (libpcap only matches Next Header = UDP in the fixed header).
 * @module
 */

import { formatIpv4, formatIpv6, parseIp } from '../../protocol/address.js';

/** pcap link types (https://www.tcpdump.org/linktypes.html). */
export const DLT_NULL = 0;
export const DLT_EN10MB = 1;
/** DLT_RAW as libpcap reports it on Linux; 101 is the LINKTYPE_ value in savefiles. */
export const DLT_RAW = 12;
export const LINKTYPE_RAW = 101;
export const DLT_LINUX_SLL = 113;
export const DLT_LINUX_SLL2 = 276;

/**
 * What the kernel would check before a socket on this host saw the datagram (pcap.ts fills it in).
 * Without it, parseFrame only checks the frame's structure.
 */
export interface HostFilter {
  /** This interface's MAC: Ethernet frames must be unicast to it and not sent from it. */
  readonly mac: Uint8Array | null;
  /** Is the destination at b[at..] (4 bytes, or 16 if v6) one of this host's addresses? Read in place. */
  isLocalAt(b: Uint8Array, at: number, v6: boolean): boolean;
}

/** A HostFilter's isLocalAt for these addresses (canonical text): no allocation per call. */
export function localAddresses(addresses: Iterable<string>): HostFilter['isLocalAt'] {
  const v4 = new Set<number>();
  const v6: Uint8Array[] = [];
  for (const text of addresses) {
    const ip = parseIp(text);
    if (ip?.family === 4) v4.add(u32(ip.bytes, 0));
    else if (ip?.family === 6) v6.push(ip.bytes);
  }
  return (b, at, isV6) => {
    if (!isV6) return v4.has(u32(b, at));
    for (const a of v6) if (bytesAt(b, at, a)) return true;
    return false;
  };
}

function u32(b: Uint8Array, i: number): number {
  return (((b[i] as number) << 24) | ((b[i + 1] as number) << 16) | ((b[i + 2] as number) << 8) | (b[i + 3] as number)) >>> 0;
}

function bytesAt(b: Uint8Array, at: number, a: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (b[at + i] !== a[i]) return false;
  return true;
}

export interface UdpDatagram {
  /** Canonical text: dotted quad, or RFC 5952 IPv6. */
  readonly source: string;
  readonly sourcePort: number;
  readonly destPort: number;
  /** A view into the frame, not a copy. */
  readonly payload: Uint8Array;
  /**
   * The UDP checksum (when parsed with a HostFilter; true without one). Reads the frame: call it
   * before the frame's buffer is reused, and act on nothing for which it is false.
   */
  intact(): boolean;
}

/** The parse result: keeps where the checksum's inputs are so that intact() can verify it later. */
class FrameDatagram implements UdpDatagram {
  constructor(
    readonly source: string,
    readonly sourcePort: number,
    readonly destPort: number,
    readonly payload: Uint8Array,
    private readonly frame: Uint8Array,
    private readonly udpAt: number,
    private readonly udpLength: number,
    private readonly sourceAt: number,
    private readonly v6: boolean,
    private readonly checked: boolean,
  ) {}

  intact(): boolean {
    return !this.checked || udpChecksumOk(this.frame, this.udpAt, this.udpLength, this.sourceAt, this.v6);
  }
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
/** Linux packet type (SLL): addressed to this host. */
const PACKET_HOST = 0;
const PROTO_UDP = 17;
const UDP_HEADER = 8;
const IPV6_HEADER = 40;

export function isSupportedLinkType(linkType: number): boolean {
  return (
    linkType === DLT_NULL ||
    linkType === DLT_EN10MB ||
    linkType === DLT_RAW ||
    linkType === LINKTYPE_RAW ||
    linkType === DLT_LINUX_SLL ||
    linkType === DLT_LINUX_SLL2
  );
}

function u16(b: Uint8Array, i: number): number {
  return ((b[i] as number) << 8) | (b[i + 1] as number);
}

/**
 * Parses a captured frame. `length` is the captured length when `frame` is a larger reused
 * buffer (node_pcap); bytes past it are never read.
 */
export function parseFrame(linkType: number, frame: Uint8Array, length: number = frame.length, host?: HostFilter): UdpDatagram | null {
  const end = length >= 0 && length <= frame.length ? Math.floor(length) : frame.length;
  const h = host ?? null;
  switch (linkType) {
    case DLT_EN10MB: // dst MAC, src MAC, EtherType at 12, payload at 14
      if (h?.mac != null && (end < 14 || !macAt(frame, 0, h.mac) || macAt(frame, 6, h.mac))) return null; // not unicast to us, or our own
      return ethertype(frame, end, 12, 14, h);
    case DLT_LINUX_SLL: // packet type, ARPHRD, address length, 8-byte address, protocol at 14; 16 bytes
      if (h !== null && (end < 16 || u16(frame, 0) !== PACKET_HOST)) return null;
      return ethertype(frame, end, 14, 16, h);
    case DLT_LINUX_SLL2: // protocol at 0, then reserved, ifindex, ARPHRD, packet type at 10; 20 bytes
      if (h !== null && (end < 20 || frame[10] !== PACKET_HOST)) return null;
      return ethertype(frame, end, 0, 20, h);
    case DLT_RAW:
    case LINKTYPE_RAW:
      return ip(frame, 0, end, h);
    case DLT_NULL:
      return loopback(frame, end, h);
    default:
      return null;
  }
}

function macAt(b: Uint8Array, at: number, mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (b[at + i] !== mac[i]) return false;
  return true;
}

/**
 * EtherType dispatch. VLAN-tagged frames (802.1Q, 802.1ad) are dropped: the kernel hands them to
 * the VLAN's own interface, or drops them if there is none - capture on that interface instead.
 */
function ethertype(b: Uint8Array, end: number, typeAt: number, at: number, h: HostFilter | null): UdpDatagram | null {
  if (at > end) return null;
  const type = u16(b, typeAt);
  if (type === ETHERTYPE_IPV4) return ipv4(b, at, end, h);
  if (type === ETHERTYPE_IPV6) return ipv6(b, at, end, h);
  return null;
}

/** BSD loopback: a 4-byte address family in the capturing host's byte order. */
function loopback(b: Uint8Array, end: number, h: HostFilter | null): UdpDatagram | null {
  if (end < 4 || b[1] !== 0 || b[2] !== 0) return null;
  const family = b[0] === 0 ? (b[3] as number) : b[3] === 0 ? (b[0] as number) : -1;
  if (family === 2) return ipv4(b, 4, end, h); // AF_INET everywhere
  // AF_INET6: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30.
  if (family === 10 || family === 24 || family === 28 || family === 30) return ipv6(b, 4, end, h);
  return null;
}

/** Raw IP: the version nibble says which. */
function ip(b: Uint8Array, at: number, end: number, h: HostFilter | null): UdpDatagram | null {
  if (at >= end) return null;
  const version = (b[at] as number) >> 4;
  if (version === 4) return ipv4(b, at, end, h);
  if (version === 6) return ipv6(b, at, end, h);
  return null;
}

function ipv4(b: Uint8Array, at: number, end: number, h: HostFilter | null): UdpDatagram | null {
  if (at + 20 > end) return null;
  const vihl = b[at] as number;
  if (vihl >> 4 !== 4) return null; // RFC 791 §3.1 Version
  const headerLength = (vihl & 0x0f) * 4; // RFC 791 §3.1 IHL, in 32-bit words, minimum 5
  if (headerLength < 20) return null;
  const totalLength = u16(b, at + 2); // RFC 791 §3.1 Total Length: header and data
  // Bytes past Total Length are link padding (short Ethernet frames); fewer means truncated.
  if (totalLength < headerLength || at + totalLength > end) return null;
  // RFC 791 §3.1 Flags/Fragment Offset: only whole datagrams (MF clear, offset 0).
  if ((u16(b, at + 6) & 0x3fff) !== 0) return null;
  if (b[at + 9] !== PROTO_UDP) return null; // RFC 791 §3.1 Protocol
  if (h !== null) {
    if (!h.isLocalAt(b, at + 16, false)) return null;
    if (headerLength > 20 && sourceRouted(b, at + 20, at + headerLength)) return null; // accept_source_route = 0
    if (onesComplementSum(b, at, at + headerLength, 0) !== 0xffff) return null; // RFC 791 Header Checksum
  }
  return udp(b, at + headerLength, at + totalLength, at + 12, false, h);
}

function ipv6(b: Uint8Array, at: number, end: number, h: HostFilter | null): UdpDatagram | null {
  if (at + IPV6_HEADER > end) return null;
  if ((b[at] as number) >> 4 !== 6) return null; // RFC 8200 §3 Version
  const payloadLength = u16(b, at + 4); // RFC 8200 §3 Payload Length: all after the fixed header
  if (at + IPV6_HEADER + payloadLength > end) return null;
  // RFC 8200 §3/§4 Next Header: UDP directly; any extension header (incl. Fragment, 44) is dropped.
  if (b[at + 6] !== PROTO_UDP) return null;
  // RFC 4291 §2.5.5.2: IPv4-mapped addresses never appear on the wire; Linux drops them too,
  // so a UDP socket would never see one, and folding it to IPv4 would let IPv6 pose as IPv4.
  if (isV4MappedAt(b, at + 8)) return null;
  if (h !== null && !h.isLocalAt(b, at + 24, true)) return null;
  return udp(b, at + IPV6_HEADER, at + IPV6_HEADER + payloadLength, at + 8, true, h);
}

function isV4MappedAt(b: Uint8Array, at: number): boolean {
  for (let i = 0; i < 10; i++) if (b[at + i] !== 0) return false;
  return b[at + 10] === 0xff && b[at + 11] === 0xff;
}

/**
 * `end` is where the IP payload ends (from the IP header, already checked against the capture).
 * The source is formatted last so that rejected frames allocate nothing.
 */
function udp(b: Uint8Array, at: number, end: number, sourceAt: number, v6: boolean, h: HostFilter | null): UdpDatagram | null {
  if (at + UDP_HEADER > end) return null;
  // RFC 768 Length: header plus data, so >= 8; more than the IP payload is a lie. Less is
  // accepted, as Linux's udp_rcv does (it trims the excess).
  const udpLength = u16(b, at + 4);
  if (udpLength < UDP_HEADER || at + udpLength > end) return null;
  // RFC 8200 §8.1: a zero UDP checksum is invalid over IPv6, and Linux drops such datagrams.
  if (v6 && u16(b, at + 6) === 0) return null;
  return new FrameDatagram(
    v6 ? formatIpv6(b, sourceAt) : formatIpv4(b, sourceAt),
    u16(b, at),
    u16(b, at + 2),
    b.subarray(at + UDP_HEADER, at + udpLength),
    b,
    at,
    udpLength,
    sourceAt,
    v6,
    h !== null,
  );
}

/** RFC 1071 sum of b[from, to) added to `sum`, folded to 16 bits (not complemented). */
function onesComplementSum(b: Uint8Array, from: number, to: number, sum: number): number {
  let i = from;
  for (; i + 1 < to; i += 2) sum += ((b[i] as number) << 8) | (b[i + 1] as number);
  if (i < to) sum += (b[i] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * RFC 768 / RFC 8200 §8.1 checksum over the pseudo-header. Zero over IPv4 means "none" (accepted,
 * as the kernel does). A checksum left for offload (CHECKSUM_PARTIAL: the field holds the
 * pseudo-header sum, as veth and local senders pass it on) is accepted too: the kernel trusts it.
 */
function udpChecksumOk(b: Uint8Array, at: number, udpLength: number, sourceAt: number, v6: boolean): boolean {
  const field = u16(b, at + 6);
  if (!v6 && field === 0) return true;
  const addressBytes = v6 ? 32 : 8;
  const pseudo = onesComplementSum(b, sourceAt, sourceAt + addressBytes, PROTO_UDP + udpLength);
  if (onesComplementSum(b, at, at + udpLength, pseudo) === 0xffff) return true;
  return field === pseudo;
}

/** IPv4 options: is there a loose (131) or strict (137) source route? */
function sourceRouted(b: Uint8Array, at: number, end: number): boolean {
  while (at < end) {
    const type = b[at] as number;
    if (type === 0) return false; // End of Option List
    if (type === 1) {
      at++; // No Operation
      continue;
    }
    if (type === 131 || type === 137) return true;
    const length = b[at + 1] as number;
    if (length < 2) return true; // malformed: the kernel drops it
    at += length;
  }
  return false;
}
