/**
 * The client's half of the server's address policy: an allow-ip that can never be a client
 * (unspecified, multicast, broadcast, reserved; loopback unless the server is reached over
 * loopback; link-local unless the server is reached over a link-local address) is refused before
 * anything is sent, with the reason. The server refuses the same (src/server/intake/address-policy.ts).
 * @module
 */
import { classifyAddress } from '../protocol/address-class.js';
import { UsageError } from '../shared/errors.js';

export function checkAllowIp(allowIp: string | null, serverAddress: string): void {
  if (allowIp === null) return;
  const kind = classifyAddress(allowIp);
  if (kind === 'unicast') return;
  const server = classifyAddress(serverAddress);
  if ((kind === 'loopback' || kind === 'link-local') && server === kind) return;
  const why =
    kind === 'loopback' || kind === 'link-local' ? `${kind}, and the server (${serverAddress}) is not` : (kind ?? 'not an address');
  throw new UsageError(`--allow-ip ${allowIp}: can never be a client's address (${why}); the server would refuse the knock`);
}
