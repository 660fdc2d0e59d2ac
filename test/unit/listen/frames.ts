/**
 * Hand-built frames for the frame.ts tests: UDP in IPv4/IPv6 under each pcap link type.
 * Written out field by field (not with a packet library) so the tests check the parser
 * against the RFC layouts, not against another parser.
 * @module
 */

export const SRC4 = [192, 0, 2, 1];
export const DST4 = [198, 51, 100, 7];
/** 2001:db8::1 and 2001:db8::2 */
export const SRC6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
export const DST6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
export const SPORT = 40000;
export const DPORT = 62201;
export const PAYLOAD = Uint8Array.from({ length: 146 }, (_, i) => (i * 7 + 0xcb) & 0xff);

const be16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];

export function udp(options: { payload?: Uint8Array; length?: number; checksum?: number; sport?: number; dport?: number } = {}): number[] {
  const payload = options.payload ?? PAYLOAD;
  // RFC 768: source port, destination port, length (header + data), checksum.
  return [
    ...be16(options.sport ?? SPORT),
    ...be16(options.dport ?? DPORT),
    ...be16(options.length ?? 8 + payload.length),
    ...be16(options.checksum ?? 0xbeef),
    ...payload,
  ];
}

export interface Ipv4Options {
  body?: number[];
  protocol?: number;
  /** Header length in 32-bit words; extra words are filled with NOP options. */
  ihl?: number;
  /** Flags and fragment offset, 16 bits. Default: DF only. */
  fragment?: number;
  totalLength?: number;
  version?: number;
  src?: number[];
}

export function ipv4(o: Ipv4Options = {}): number[] {
  const body = o.body ?? udp();
  const ihl = o.ihl ?? 5;
  const options = new Array<number>(Math.max(0, ihl - 5) * 4).fill(1);
  // RFC 791 §3.1: version/IHL, TOS, total length, id, flags/offset, TTL, protocol, checksum, src, dst.
  const header = [
    ((o.version ?? 4) << 4) | (ihl & 0x0f),
    0,
    ...be16(o.totalLength ?? 20 + options.length + body.length),
    0x12,
    0x34,
    ...be16(o.fragment ?? 0x4000),
    64,
    o.protocol ?? 17,
    0,
    0,
    ...(o.src ?? SRC4),
    ...DST4,
  ];
  return [...header, ...options, ...body];
}

export interface Ipv6Options {
  body?: number[];
  nextHeader?: number;
  payloadLength?: number;
  version?: number;
  src?: number[];
}

export function ipv6(o: Ipv6Options = {}): number[] {
  const body = o.body ?? udp();
  // RFC 8200 §3: version/class/flow label, payload length, next header, hop limit, src, dst.
  return [
    (o.version ?? 6) << 4,
    0,
    0,
    0,
    ...be16(o.payloadLength ?? body.length),
    o.nextHeader ?? 17,
    64,
    ...(o.src ?? SRC6),
    ...DST6,
    ...body,
  ];
}

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;

/** `tags`: the TPID of each VLAN tag, outermost first (0x8100 802.1Q, 0x88a8 802.1ad). */
export function ethernet(type: number, packet: number[], tags: number[] = []): Uint8Array {
  const mac = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
  return Uint8Array.from([...mac, ...vlanChain(type, tags), ...packet]);
}

/** Linux cooked v1: the protocol field is the last 2 of its 16 bytes; libpcap puts VLAN tags there. */
export function sll(type: number, packet: number[], tags: number[] = []): Uint8Array {
  const head = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
  return Uint8Array.from([...head, ...vlanChain(type, tags), ...packet]);
}

/** Linux cooked v2: protocol at 0, 20-byte header. */
export function sll2(type: number, packet: number[]): Uint8Array {
  const rest = [0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
  return Uint8Array.from([...be16(type), ...rest, ...packet]);
}

export function raw(packet: number[]): Uint8Array {
  return Uint8Array.from(packet);
}

/** BSD loopback: 4-byte address family in the capturing host's byte order. */
export function loopback(family: number, packet: number[], littleEndian = true): Uint8Array {
  const head = littleEndian ? [family, 0, 0, 0] : [0, 0, 0, family];
  return Uint8Array.from([...head, ...packet]);
}

function vlanChain(type: number, tags: number[]): number[] {
  // Each tag: TPID where the EtherType was, then TCI (PCP/DEI/VID 100+i), then the next type.
  const out: number[] = [];
  tags.forEach((tpid, i) => out.push(...be16(tpid), ...be16(100 + i)));
  out.push(...be16(type));
  return out;
}
