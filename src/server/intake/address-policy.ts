/**
 * One policy for every address a grant could be for: the packet's source and the knock's
 * allow-ip. Only a unicast address that is not this host's own can be a client; loopback only
 * when the SPA port itself is on loopback; link-local only when configured. Checked after
 * authentication (so the host's addresses, read fresh each time, cost nothing under a flood).
 * @module
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { canonicalIp, parseIp } from '../../protocol/address.js';
import { classifyBytes } from '../../protocol/address-class.js';

export interface AddressPolicyOptions {
  /** The SPA port is on loopback (udp bound to 127.0.0.0/8 or ::1, or pcap on "lo"). */
  readonly loopback: boolean;
  /** allow_link_local. */
  readonly linkLocal: boolean;
  /** This host's interfaces; os.networkInterfaces unless a test says otherwise. */
  readonly interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
}

/** Why an address cannot be granted: the class, or "own-address" / "subnet-broadcast". */
export type AddressProblem = string;

/** IPv4 directed broadcast of an interface address (RFC 919), or null for /31, /32 and IPv6. */
function subnetBroadcast(info: NetworkInterfaceInfo): string | null {
  if (info.family !== 'IPv4' || info.cidr === null) return null;
  const bits = Number(info.cidr.slice(info.cidr.indexOf('/') + 1));
  if (!(bits <= 30)) return null;
  const ip = parseIp(info.address);
  if (ip === null) return null;
  const host = 32 - bits;
  const value =
    ((ip.bytes[0] as number) * 2 ** 24 + (ip.bytes[1] as number) * 2 ** 16 + (ip.bytes[2] as number) * 2 ** 8 + (ip.bytes[3] as number)) >>>
    0;
  const bcast = (value | (2 ** host - 1)) >>> 0;
  return `${bcast >>> 24}.${(bcast >>> 16) & 255}.${(bcast >>> 8) & 255}.${bcast & 255}`;
}

export class AddressPolicy {
  readonly #options: AddressPolicyOptions;

  constructor(options: AddressPolicyOptions) {
    this.#options = options;
  }

  /** Null if `text` may be granted, else why not. */
  problem(text: string): AddressProblem | null {
    const ip = parseIp(text);
    if (ip === null) return 'not-an-address';
    const kind = classifyBytes(ip);
    if (kind === 'loopback') return this.#options.loopback ? null : kind;
    if (kind === 'link-local' && !this.#options.linkLocal) return kind;
    if (kind !== 'unicast' && kind !== 'link-local') return kind;
    return this.#local(canonicalIp(text) ?? text);
  }

  /** The host's own addresses and its subnets' broadcast addresses, as they are now. */
  #local(canonical: string): AddressProblem | null {
    const interfaces = (this.#options.interfaces ?? networkInterfaces)();
    for (const infos of Object.values(interfaces)) {
      for (const info of infos ?? []) {
        const zone = info.address.indexOf('%');
        if (canonicalIp(zone < 0 ? info.address : info.address.slice(0, zone)) === canonical) return 'own-address';
        if (subnetBroadcast(info) === canonical) return 'subnet-broadcast';
      }
    }
    return null;
  }
}
