/**
 * Network errors in words: what a failed name lookup or send means for a knock, with the errno
 * code kept at the end for a search.
 * @module
 */

/** Why `host` could not be resolved. */
export function resolveFailure(host: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  switch (code) {
    case 'ENOTFOUND':
      return `cannot resolve ${host}: no such host name (ENOTFOUND); check --host or the profile's host`;
    case 'EAI_AGAIN':
      return `cannot resolve ${host}: no answer from the DNS server (EAI_AGAIN); is this machine online? or give an address`;
    case 'ENODATA':
      return `cannot resolve ${host}: the name has no address of the wanted family (ENODATA)`;
    default:
      return `cannot resolve ${host}: ${(err as Error).message}; check the name, or give an address`;
  }
}

/** Why a packet to `address` (`proto`/`port`) could not leave this machine or got no further. */
export function sendFailure(address: string, proto: 'udp' | 'tcp', port: number, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  switch (code) {
    case 'ENETUNREACH':
      return `cannot reach ${address}: this machine has no route to that network (ENETUNREACH); check --host and this machine's network`;
    case 'EHOSTUNREACH':
      return `cannot reach ${address}: host unreachable (EHOSTUNREACH); it is down, the address is wrong, or a router refused the way`;
    case 'EPERM':
    case 'EACCES':
      return `this machine refused to send to ${address} ${proto}/${port} (${code}): its own firewall blocks it`;
    case 'EADDRNOTAVAIL':
      return `cannot send to ${address} (EADDRNOTAVAIL): this machine has no address to send from to it`;
    default:
      return `cannot send to ${address} ${proto}/${port}: ${(err as Error).message}`;
  }
}
