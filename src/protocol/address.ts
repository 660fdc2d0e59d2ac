/**
 * IP address text <-> bytes, strict (docs/protocol.md §2.2, field "address").
 * Text forms accepted: dotted-quad IPv4 without leading zeros; IPv6 per RFC 4291 §2.2
 * (with "::" and a trailing dotted quad), no zone index. Output is canonical (RFC 5952 §4).
 * @module
 */

export interface IpBytes {
  readonly family: 4 | 6;
  /** 4 bytes for IPv4, 16 for IPv6. */
  readonly bytes: Uint8Array;
}

const DEC_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4Into(text: string, out: Uint8Array, offset: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const part = parts[i] as string;
    if (!DEC_OCTET.test(part)) return false;
    const value = Number(part);
    if (value > 255) return false;
    out[offset + i] = value;
  }
  return true;
}

function parseIpv6(text: string): Uint8Array | null {
  // A trailing dotted quad stands for the last two groups: parse it, then treat it as "0:0".
  let hexPart = text;
  let v4: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    v4 = new Uint8Array(4);
    if (!parseIpv4Into(text.slice(lastColon + 1), v4, 0)) return null;
    hexPart = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = hexPart.split('::');
  if (halves.length > 2) return null;
  const [first = '', second = ''] = halves;
  const head = first === '' ? [] : first.split(':');
  const tail = second === '' ? [] : second.split(':');
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...new Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const group = groups[i] as string;
    if (!HEX_GROUP.test(group)) return null;
    const word = parseInt(group, 16);
    out[2 * i] = word >> 8;
    out[2 * i + 1] = word & 0xff;
  }
  if (v4 !== null) out.set(v4, 12);
  return out;
}

/** Parses an IPv4 or IPv6 address; null if it is not one. */
export function parseIp(text: string): IpBytes | null {
  if (text.length === 0 || text.length > 45) return null;
  if (text.includes(':')) {
    const bytes = parseIpv6(text);
    return bytes === null ? null : { family: 6, bytes };
  }
  const bytes = new Uint8Array(4);
  return parseIpv4Into(text, bytes, 0) ? { family: 4, bytes } : null;
}

/** True for ::ffff:a.b.c.d, which dual-stack sockets report for IPv4 peers. */
export function isV4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

export function formatIpv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** RFC 5952 §4: lowercase, no leading zeros, the longest run (>= 2) of zero groups as "::". */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(((bytes[offset + 2 * i] as number) << 8) | (bytes[offset + 2 * i + 1] as number));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

export function formatIp(ip: IpBytes): string {
  return ip.family === 4 ? formatIpv4(ip.bytes) : formatIpv6(ip.bytes);
}

/** Canonical text of an address, IPv4-mapped IPv6 folded to IPv4; null if not an address. */
export function canonicalIp(text: string): string | null {
  const ip = parseIp(text);
  if (ip === null) return null;
  if (ip.family === 6 && isV4Mapped(ip.bytes)) return formatIpv4(ip.bytes, 12);
  return formatIp(ip);
}
