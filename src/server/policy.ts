/**
 * Step two of the pipeline: may this user open these ports, for this address, for how long?
 * All or nothing: one port the user may not open refuses the whole knock.
 * @module
 */
import type { Action, KnockFields } from '../protocol/body.js';
import { samePort, type PortSpec } from '../protocol/ports.js';
import type { UserPolicy } from './config.js';

export type PolicyReason = 'unknown-user' | 'port-not-allowed' | 'ip-required';

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
): Decision | PolicyReason {
  if (policy === undefined) return 'unknown-user';
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
