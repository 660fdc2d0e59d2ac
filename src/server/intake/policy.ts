/**
 * Step two of the pipeline: may this user open these ports, for this address, for how long?
 * All or nothing: one port the user may not open refuses the whole knock. And after a reload,
 * which live grants its users may keep.
 * @module
 */
import type { Action, KnockFields } from '../../protocol/body.js';
import { samePort, type PortSpec } from '../../protocol/ports.js';
import type { UserPolicy } from '../config/config.js';
import type { AddressPolicy } from './address-policy.js';

/** source-* / allow-ip-*: the address can never be a client (address-policy.ts says why). */
export type PolicyReason = 'unknown-user' | 'port-not-allowed' | 'ip-required' | `source-${string}` | `allow-ip-${string}`;

export interface Decision {
  readonly action: Action;
  readonly user: string;
  readonly ip: string;
  readonly family: 4 | 6;
  readonly ports: readonly PortSpec[];
  /** Granted seconds (0 for close). */
  readonly durationSec: number;
  /** The client asked for more than max_duration. */
  readonly capped: boolean;
}

export function authorize(
  knock: KnockFields & { readonly user: string },
  policy: UserPolicy | undefined,
  source: string,
  defaultDurationSec: number,
  addresses: Pick<AddressPolicy, 'problem'>,
): Decision | PolicyReason {
  if (policy === undefined) return 'unknown-user';
  // The source is checked even when the grant is for an allow-ip: a knock from a source that
  // can never be a client (spoofed, or IPv6 posing as IPv4) grants nothing.
  const badSource = addresses.problem(source);
  if (badSource !== null) return `source-${badSource}`;
  const badAllowIp = knock.allowIp === null ? null : addresses.problem(knock.allowIp);
  if (badAllowIp !== null) return `allow-ip-${badAllowIp}`;
  if (knock.allowIp === null && policy.requireIp) return 'ip-required';
  if (!knock.ports.every((want) => policy.ports.some((allowed) => samePort(allowed, want)))) return 'port-not-allowed';
  const ip = knock.allowIp ?? source;
  const requested = knock.durationSec === 0 ? defaultDurationSec : knock.durationSec;
  const capped = knock.action === 'open' && requested > policy.maxDurationSec;
  return {
    action: knock.action,
    user: knock.user,
    ip,
    family: ip.includes(':') ? 6 : 4,
    ports: knock.ports,
    durationSec: knock.action === 'open' ? Math.min(requested, policy.maxDurationSec) : 0,
    capped,
  };
}

/**
 * After a reload: may a live grant stay open? Only if its user is still configured and can still
 * knock (a key file, or fwknop keys in the config), and the port is still one of theirs.
 */
export function mayKeep(
  users: ReadonlyMap<string, UserPolicy>,
  keyUsers: ReadonlySet<string>,
): (grant: PortSpec & { readonly user: string }) => boolean {
  return (grant) => {
    const policy = users.get(grant.user);
    if (policy === undefined || (policy.format !== 'fwknop' && !keyUsers.has(grant.user))) return false;
    return policy.ports.some((allowed) => samePort(allowed, grant));
  };
}
