/**
 * The kernel screen of the SPA port: what a datagram must look like to be worth the daemon's time
 * (its UDP length, first byte, key id). Backends that can (capabilities.screensSpaPort) drop the
 * rest before the socket; pcap mode puts the same in its capture filter. Pure.
 * The daemon's own screen (intake/formats.ts) stays: this only spares it the junk.
 * @module
 */
import { KEY_ID_SIZE, MAGIC, OFF_KEY_ID, PACKET_SIZE } from '../../protocol/constants.js';
import { MAX_PACKET_LENGTH as FWKNOP_MAX, MIN_PACKET_LENGTH as FWKNOP_MIN } from '../../protocol/fwknop/constants.js';
import { SSH_MAGIC } from '../../protocol/ssh/constants.js';
import { SSH_MAX_PACKET, SSH_MIN_PACKET } from '../../protocol/ssh/packet.js';

/** UDP header: the UDP length field counts it, payload offsets start after it. */
export const UDP_HEADER_SIZE = 8;

/**
 * One packet format as the kernel can tell it: its payload lengths and first byte. Every screen
 * (nft, the capture filter, iptables) is written from the list {@link screenShapes} makes.
 */
export interface ScreenShape {
  readonly format: string;
  /** Payload lengths, inclusive (one size: min = max). */
  readonly min: number;
  readonly max: number;
  /** Its first byte; null: any (fwknop's base64 text). */
  readonly magic: number | null;
  /** Whether it carries a key id (at keyIdOffset) that must be one of keyIds. */
  readonly keyed: boolean;
}

export interface KernelScreen {
  readonly port: number;
  /** The packet formats of this config: what any datagram that may be a knock looks like. */
  readonly shapes: readonly ScreenShape[];
  /** knockspa's own format: its payload length and magic. */
  readonly size: number;
  readonly magic: number;
  /** Where the key id is in the payload, and how long it is (bytes). */
  readonly keyIdOffset: number;
  readonly keyIdSize: number;
  /** The keyring's key ids, lower-case hex, sorted. */
  readonly keyIds: readonly string[];
}

/** Why the kernel dropped a datagram; one counter each. */
export const SCREEN_REASONS = ['length', 'magic', 'key_id'] as const;
export type ScreenReason = (typeof SCREEN_REASONS)[number];
/** Datagrams dropped per reason since the screen was put in place. */
export type ScreenCounters = Readonly<Record<ScreenReason, number>>;

/**
 * SSH-key knocks of a config: null without SSH users; the payload sizes of the key types in use
 * (a screen rebuilt on reload); or 'any' size an SSH key can give (pcap's filter, set at start).
 */
export type SshShapes = readonly number[] | 'any' | null;

/** The packet formats a config accepts, as the kernel tells them (a new format is one entry here). */
export function screenShapes(fwknopUsers: boolean, ssh: SshShapes = null): ScreenShape[] {
  const shapes: ScreenShape[] = [{ format: 'knockspa', min: PACKET_SIZE, max: PACKET_SIZE, magic: MAGIC, keyed: true }];
  if (ssh === 'any') shapes.push({ format: 'ssh', min: SSH_MIN_PACKET, max: SSH_MAX_PACKET, magic: SSH_MAGIC, keyed: true });
  else for (const size of new Set(ssh ?? [])) shapes.push({ format: 'ssh', min: size, max: size, magic: SSH_MAGIC, keyed: true });
  if (fwknopUsers) shapes.push({ format: 'fwknop', min: FWKNOP_MIN, max: FWKNOP_MAX, magic: null, keyed: false });
  return shapes;
}

export function kernelScreen(port: number, keyIds: Iterable<string>, fwknopUsers: boolean, ssh: SshShapes = null): KernelScreen {
  return {
    port,
    shapes: screenShapes(fwknopUsers, ssh),
    size: PACKET_SIZE,
    magic: MAGIC,
    keyIdOffset: OFF_KEY_ID,
    keyIdSize: KEY_ID_SIZE,
    keyIds: [...new Set([...keyIds].map((k) => k.toLowerCase()))].sort(),
  };
}

/** A range of UDP lengths (the UDP header's length field: payload + 8), inclusive. */
export interface UdpLengths {
  readonly min: number;
  readonly max: number;
}

/** Every UDP length a knock of this config can have, sorted, overlapping ranges merged. */
export function udpLengths(screen: KernelScreen): UdpLengths[] {
  const ranges = screen.shapes.map((s) => ({ min: s.min + UDP_HEADER_SIZE, max: s.max + UDP_HEADER_SIZE })).sort((a, b) => a.min - b.min);
  const merged: { min: number; max: number }[] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r.min <= last.max + 1) last.max = Math.max(last.max, r.max);
    else merged.push({ ...r });
  }
  return merged;
}

/**
 * The first-byte tests: per range of UDP lengths that only formats with a magic have, the magics
 * allowed there. Lengths a format without magic (fwknop) may also have are not tested, nor
 * ranges that overlap another format's different range (its packets would be dropped).
 */
export function magicTests(screen: KernelScreen): { readonly lengths: UdpLengths; readonly magics: readonly number[] }[] {
  const overlaps = (a: ScreenShape, b: ScreenShape): boolean => a.min <= b.max && b.min <= a.max;
  const tests = new Map<string, { lengths: UdpLengths; magics: number[] }>();
  for (const shape of screen.shapes) {
    if (shape.magic === null) continue;
    if (screen.shapes.some((o) => overlaps(o, shape) && (o.magic === null || o.min !== shape.min || o.max !== shape.max))) continue;
    const key = `${shape.min}-${shape.max}`;
    const test = tests.get(key) ?? { lengths: { min: shape.min + UDP_HEADER_SIZE, max: shape.max + UDP_HEADER_SIZE }, magics: [] };
    if (!test.magics.includes(shape.magic)) test.magics.push(shape.magic);
    tests.set(key, test);
  }
  return [...tests.values()].map((t) => ({ lengths: t.lengths, magics: t.magics.sort((a, b) => a - b) }));
}

/**
 * The key id tests: per format with a key id, its UDP lengths and magic. The test matches the
 * magic as well, so it never sees a fwknop packet of the same length: fwknop's base64 text never
 * starts with a byte above 0x7f, and every magic here is one.
 */
export function keyIdTests(screen: KernelScreen): { readonly lengths: UdpLengths; readonly magic: number }[] {
  const tests = new Map<string, { lengths: UdpLengths; magic: number }>();
  for (const shape of screen.shapes)
    if (shape.keyed && shape.magic !== null)
      tests.set(`${shape.min}-${shape.max}-${shape.magic}`, {
        lengths: { min: shape.min + UDP_HEADER_SIZE, max: shape.max + UDP_HEADER_SIZE },
        magic: shape.magic,
      });
  return [...tests.values()];
}

/**
 * The capture filter for pcap mode: the port, and what the kernel's BPF can check without a set
 * (length and magic; key ids are the daemon's). libpcap's `udp[...]` reads IPv4 only; IPv6 is read
 * at fixed offsets (no extension headers, which frame.ts drops anyway).
 */
export function captureFilter(port: number, screen: KernelScreen | null): string {
  const plain = `udp dst port ${port}`;
  if (screen === null) return plain;
  const v4 = ['ip', plain, ...screenTests('udp[4:2]', 'udp[8]', screen)];
  const v6Udp = 40; // the fixed header; UDP right after it (ip6[6], next header, is 17)
  const v6 = ['ip6', plain, 'ip6[6] = 17', ...screenTests(`ip6[${v6Udp + 4}:2]`, `ip6[${v6Udp + 8}]`, screen)];
  return `(${v4.join(' and ')}) or (${v6.join(' and ')})`;
}

function screenTests(lengthField: string, firstByte: string, screen: KernelScreen): string[] {
  const terms = screen.shapes.map((shape) => {
    const [min, max] = [shape.min + UDP_HEADER_SIZE, shape.max + UDP_HEADER_SIZE];
    const length = min === max ? `${lengthField} = ${min}` : `${lengthField} >= ${min} and ${lengthField} <= ${max}`;
    return `(${length}${shape.magic === null ? '' : ` and ${firstByte} = 0x${shape.magic.toString(16)}`})`;
  });
  return [terms.length === 1 ? (terms[0] as string) : `(${terms.join(' or ')})`];
}
