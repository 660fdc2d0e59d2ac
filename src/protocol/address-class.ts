/**
 * What kind of address an IP is, for deciding whether it can ever be a knocking client
 * (RFC 6890 special-purpose registries, the parts that matter for a source or a grant).
 * Pure: text in, class out.
 * @module
 */
import { isV4Mapped, parseIp, type IpBytes } from './address.js';

export type AddressClass =
  | 'unicast'
  | 'unspecified' // 0.0.0.0, ::
  | 'this-network' // 0.0.0.0/8 (RFC 1122 §3.2.1.3): never a source on the wire
  | 'loopback' // 127.0.0.0/8, ::1
  | 'link-local' // 169.254.0.0/16, fe80::/10
  | 'multicast' // 224.0.0.0/4, ff00::/8
  | 'broadcast' // 255.255.255.255
  | 'reserved' // 240.0.0.0/4 (RFC 1112 §4)
  | 'v4-mapped'; // ::ffff:0:0/96 (RFC 4291 §2.5.5.2): never on the wire

export function classifyBytes(ip: IpBytes): AddressClass {
  const b = ip.bytes;
  if (ip.family === 4) {
    const a = b[0] as number;
    if (b.every((x) => x === 0)) return 'unspecified';
    if (a === 0) return 'this-network';
    if (a === 127) return 'loopback';
    if (a === 169 && b[1] === 254) return 'link-local';
    if (b.every((x) => x === 255)) return 'broadcast';
    if (a >= 224 && a <= 239) return 'multicast';
    if (a >= 240) return 'reserved';
    return 'unicast';
  }
  if (b[0] === 0xff) return 'multicast';
  if (b[0] === 0xfe && ((b[1] as number) & 0xc0) === 0x80) return 'link-local';
  if (isV4Mapped(b)) return 'v4-mapped';
  if (b.subarray(0, 15).every((x) => x === 0)) return b[15] === 0 ? 'unspecified' : b[15] === 1 ? 'loopback' : 'reserved';
  return 'unicast';
}

/** The class of an address in text form; null if it is not one. */
export function classifyAddress(text: string): AddressClass | null {
  const ip = parseIp(text);
  return ip === null ? null : classifyBytes(ip);
}
