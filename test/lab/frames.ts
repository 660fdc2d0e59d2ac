/**
 * Crafted frames for the lab: Ethernet / 802.1Q / IPv4 / IPv6 / UDP built byte by byte (so a test
 * can choose any source, checksum, option or fragment), sent with an AF_PACKET socket from a
 * namespace (a python3 one-liner: Node has no raw sockets).
 * @module
 */
import type { TestNet } from './netns.js';

const PY_SEND = `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for frame in sys.argv[2:]:
    s.send(bytes.fromhex(frame))
print('sent')
`;

function parseV4(ip: string): number[] {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new Error(`frames: bad IPv4 ${ip}`);
  return parts;
}

function parseV6(ip: string): number[] {
  const [head = '', tail] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const last = t.length > 0 ? t : h;
  const v4 = last.length > 0 && (last[last.length - 1] as string).includes('.') ? parseV4(last.pop() as string) : null;
  const words = [...h, ...new Array<string>(8 - h.length - t.length - (v4 === null ? 0 : 2)).fill('0'), ...t].map((w) => parseInt(w, 16));
  if (tail === undefined && words.length !== (v4 === null ? 8 : 6)) throw new Error(`frames: bad IPv6 ${ip}`);
  return [...words.flatMap((w) => [w >> 8, w & 255]), ...(v4 ?? [])];
}

export function parseMac(mac: string): number[] {
  return mac.split(':').map((h) => parseInt(h, 16));
}

function u16(n: number): number[] {
  return [(n >> 8) & 255, n & 255];
}

/** RFC 1071 Internet checksum. */
export function internetChecksum(bytes: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface UdpSpec {
  readonly src: string;
  readonly dst: string;
  readonly sport?: number;
  readonly dport: number;
  readonly payload: Uint8Array;
  /** Add this to the correct UDP checksum (a wrong one), or 'zero' for none. */
  readonly udpChecksum?: 'ok' | 'bad' | 'zero';
}

function udpSegment(spec: UdpSpec, pseudo: number[]): number[] {
  const length = 8 + spec.payload.length;
  const seg = [...u16(spec.sport ?? 40000), ...u16(spec.dport), ...u16(length), 0, 0, ...spec.payload];
  let sum = internetChecksum([...pseudo, ...seg]);
  if (sum === 0) sum = 0xffff;
  if (spec.udpChecksum === 'bad') sum = sum ^ 0x5a5a;
  if (spec.udpChecksum === 'zero') sum = 0;
  seg[6] = sum >> 8;
  seg[7] = sum & 255;
  return seg;
}

export interface Ipv4Spec extends UdpSpec {
  readonly ttl?: number;
  /** IP options (a multiple of 4 bytes), e.g. loose source route. */
  readonly options?: readonly number[];
  readonly badHeaderChecksum?: boolean;
}

export function ipv4Udp(spec: Ipv4Spec): number[] {
  const src = parseV4(spec.src);
  const dst = parseV4(spec.dst);
  const seg = udpSegment(spec, [...src, ...dst, 0, 17, ...u16(8 + spec.payload.length)]);
  const options = spec.options ?? [];
  const ihl = 5 + options.length / 4;
  const header = [0x40 | ihl, 0, ...u16(ihl * 4 + seg.length), 0x12, 0x34, 0x40, 0, spec.ttl ?? 64, 17, 0, 0, ...src, ...dst, ...options];
  let sum = internetChecksum(header);
  if (spec.badHeaderChecksum === true) sum ^= 0x0101;
  header[10] = sum >> 8;
  header[11] = sum & 255;
  return [...header, ...seg];
}

export function ipv6Udp(spec: UdpSpec & { readonly hopLimit?: number }): number[] {
  return ipv6Packet(spec, [], ipv6Segment(spec));
}

function ipv6Segment(spec: UdpSpec): number[] {
  return udpSegment(spec, [...parseV6(spec.src), ...parseV6(spec.dst), 0, 0, ...u16(8 + spec.payload.length), 0, 0, 0, 17]);
}

/** Extension headers before the UDP header, each with its Next Header field filled in by the builder. */
export type Ipv6Extension = 'hop-by-hop' | 'destination-options' | 'atomic-fragment';

const EXT_TYPE: Record<Ipv6Extension, number> = { 'hop-by-hop': 0, 'destination-options': 60, 'atomic-fragment': 44 };

/** One 8-byte extension header whose next header is `next`: options padded with PadN, or a fragment header at offset 0 without M (RFC 6946). */
function extensionHeader(kind: Ipv6Extension, next: number, id: number): number[] {
  if (kind === 'atomic-fragment') return [next, 0, 0, 0, ...u16(id >>> 16), ...u16(id & 0xffff)];
  return [next, 0, 1, 4, 0, 0, 0, 0]; // Hdr Ext Len 0 (8 bytes); PadN of 4
}

/** IPv6 header + extension headers (already chained) + `rest`; `first` is the Next Header of the fixed header. */
function ipv6Packet(
  spec: UdpSpec & { readonly hopLimit?: number },
  headers: readonly number[],
  rest: readonly number[],
  first = 17,
): number[] {
  const body = [...headers, ...rest];
  return [0x60, 0, 0, 0, ...u16(body.length), first, spec.hopLimit ?? 64, ...parseV6(spec.src), ...parseV6(spec.dst), ...body];
}

/** An IPv6 UDP packet with these extension headers, in order, between the fixed header and UDP. */
export function ipv6UdpWith(spec: UdpSpec & { readonly hopLimit?: number }, extensions: readonly Ipv6Extension[]): number[] {
  const types = extensions.map((e) => EXT_TYPE[e]);
  const headers = extensions.flatMap((e, i) => extensionHeader(e, types[i + 1] ?? 17, 0x4b000001 + i));
  return ipv6Packet(spec, headers, ipv6Segment(spec), types[0] ?? 17);
}

/** The UDP datagram as IPv6 fragments (RFC 8200 §4.5): the first carries `firstBytes` (a multiple of 8) of the UDP segment. */
export function ipv6UdpFragments(spec: UdpSpec & { readonly hopLimit?: number }, firstBytes: number, id = 0x4b00f00d): number[][] {
  const seg = ipv6Segment(spec);
  return fragmentsOf(seg, firstBytes).map(({ offset, more, data }) =>
    ipv6Packet(spec, [17, 0, ...u16((offset / 8) * 8 + (more ? 1 : 0)), ...u16(id >>> 16), ...u16(id & 0xffff)], data, 44),
  );
}

/** The UDP datagram as IPv4 fragments (RFC 791): the first carries `firstBytes` (a multiple of 8) of the UDP segment. */
export function ipv4UdpFragments(spec: Ipv4Spec, firstBytes: number, id = 0x4b0f): number[][] {
  const whole = ipv4Udp(spec);
  const ihl = ((whole[0] as number) & 0x0f) * 4;
  const header = whole.slice(0, ihl);
  return fragmentsOf(whole.slice(ihl), firstBytes).map(({ offset, more, data }) => {
    const h = [...header];
    h.splice(2, 2, ...u16(ihl + data.length));
    h.splice(4, 4, ...u16(id), ...u16((more ? 0x2000 : 0) | (offset / 8)));
    h.splice(10, 2, 0, 0);
    const sum = internetChecksum(h);
    h.splice(10, 2, sum >> 8, sum & 255);
    return [...h, ...data];
  });
}

function fragmentsOf(data: readonly number[], firstBytes: number): Array<{ offset: number; more: boolean; data: number[] }> {
  if (firstBytes % 8 !== 0 || firstBytes <= 0 || firstBytes >= data.length)
    throw new Error(`frames: cannot fragment ${data.length} bytes at ${firstBytes}`);
  return [
    { offset: 0, more: true, data: data.slice(0, firstBytes) },
    { offset: firstBytes, more: false, data: data.slice(firstBytes) },
  ];
}

/**
 * An Ethernet II frame; the EtherType follows from the IP version. `vlans`: VLAN ids, outermost
 * first, each an 802.1Q tag (0x8100) except the outermost when `outerTpid` says otherwise (0x88a8:
 * an 802.1ad service tag, as in a double-tagged, QinQ, frame).
 */
export function ethernet(
  dstMac: string,
  srcMac: string,
  packet: readonly number[],
  vlans: readonly number[] = [],
  outerTpid = 0x8100,
): Uint8Array {
  const type = (packet[0] as number) >> 4 === 6 ? 0x86dd : 0x0800;
  const tags = vlans.flatMap((id, i) => [...u16(i === 0 ? outerTpid : 0x8100), ...u16(id)]);
  return Uint8Array.from([...parseMac(dstMac), ...parseMac(srcMac), ...tags, ...u16(type), ...packet]);
}

/** The MAC address of an interface in a namespace. */
export async function macOf(net: TestNet, ns: string, ifname: string): Promise<string> {
  const r = await net.run(ns, ['ip', '-j', 'link', 'show', 'dev', ifname]);
  const mac = (JSON.parse(r.stdout) as Array<{ address?: string }>)[0]?.address;
  if (r.code !== 0 || mac === undefined) throw new Error(`no MAC for ${ifname} in ${ns}: ${r.stderr}`);
  return mac;
}

/** Sends whole frames out of `ifname` in namespace `ns` (AF_PACKET: nothing is added or checked). */
export async function sendFrames(net: TestNet, ns: string, ifname: string, frames: readonly Uint8Array[]): Promise<void> {
  const r = await net.run(ns, ['python3', '-c', PY_SEND, ifname, ...frames.map((f) => Buffer.from(f).toString('hex'))], {
    timeoutMs: 10_000,
  });
  if (r.code !== 0 || !r.stdout.includes('sent')) throw new Error(`sending frames from ${ns}/${ifname} failed: exit ${r.code} ${r.stderr}`);
}

/** Frames from the client end to the server end of the lab's veth pair. */
export async function clientFrames(
  net: TestNet,
): Promise<{ send(packets: readonly (readonly number[])[], vlans?: readonly number[]): Promise<void> }> {
  const [srvMac, cliMac] = await Promise.all([macOf(net, net.srv, net.srvIf), macOf(net, net.cli, net.cliIf)]);
  return {
    send: (packets, vlans = []) =>
      sendFrames(
        net,
        net.cli,
        net.cliIf,
        packets.map((p) => ethernet(srvMac, cliMac, p, vlans)),
      ),
  };
}
