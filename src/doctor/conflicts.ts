/**
 * Cross-table conflicts: a knock that knockspa grants still dropped by a rule it does not own (a
 * drop in any base chain on the input hook is final, whichever table or tool made it). Pure:
 * sources in, one conflict per port and family out.
 * @module
 */
import { formatPortSpec, type PortSpec } from '../protocol/ports.js';
import { chainVerdict, combine, type Chain } from './ruleset.js';

export interface RulesetSource {
  readonly chains: ReadonlyMap<string, Chain>;
  readonly base: string;
}

export interface Conflict {
  readonly family: 4 | 6;
  readonly port: string;
  /** The rule or policy that drops the granted packet (as iptables -S / nft names it), or what hides the answer. */
  readonly by: string;
  /** drop: surely dropped; unknown: a rule this check does not model may drop it. */
  readonly kind: 'drop' | 'unknown';
}

/** What a packet from a granted address to each port meets, for one family. */
export function grantConflicts(sources: readonly RulesetSource[], ports: readonly PortSpec[], family: 4 | 6): Conflict[] {
  const out: Conflict[] = [];
  if (sources.length === 0) return out;
  for (const spec of ports) {
    const v = combine(sources.map((s) => chainVerdict(s.chains, s.base, { family, ...spec, state: 'new', granted: true })));
    if (v.kind !== 'accept') out.push({ family, port: formatPortSpec(spec), by: v.by, kind: v.kind });
  }
  return out;
}

/** How to take a conflicting rule out, by how it was named. */
export function conflictFix(c: Conflict, ownDrops: boolean): string {
  const rest = ownDrops
    ? `knockspa's own setup drops ${c.port} for everyone it has not granted`
    : `keep the base ruleset's drop for ${c.port} after INPUT's jump to KNOCKSPA`;
  const ipt = c.family === 4 ? 'iptables' : 'ip6tables';
  const nft = /^nft (\S+) (\S+) (\S+) rule handle (\d+)$/.exec(c.by);
  if (c.by.startsWith('-A ')) return `delete it (${ipt} -D ${c.by.slice(3)}) or accept ${c.port} before it; ${rest}`;
  if (nft !== null)
    return `delete it (nft delete rule ${nft[1]} ${nft[2]} ${nft[3]} handle ${nft[4]}) or accept ${c.port} before it; ${rest}`;
  if (/policy DROP$/.test(c.by)) return `accept ${c.port} in that chain, or set its policy to accept; ${rest}`;
  return `check from a knocking machine that ${c.port} opens after a knock`;
}
