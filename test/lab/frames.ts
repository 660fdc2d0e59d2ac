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
  const src = parseV6(spec.src);
  const dst = parseV6(spec.dst);
  const seg = udpSegment(spec, [...src, ...dst, 0, 0, ...u16(8 + spec.payload.length), 0, 0, 0, 17]);
  return [0x60, 0, 0, 0, ...u16(seg.length), 17, spec.hopLimit ?? 64, ...src, ...dst, ...seg];
}

/** An Ethernet II frame; the EtherType follows from the IP version. */
export function ethernet(dstMac: string, srcMac: string, packet: readonly number[], vlans: readonly number[] = []): Uint8Array {
  const type = (packet[0] as number) >> 4 === 6 ? 0x86dd : 0x0800;
  const tags = vlans.flatMap((id) => [0x81, 0x00, ...u16(id)]);
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
