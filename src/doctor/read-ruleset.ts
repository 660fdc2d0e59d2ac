/**
 * Reads the live ruleset the way a packet meets it: iptables' INPUT (`iptables -S`) and every
 * nftables input-hook chain (`nft -j list ruleset`, which also sees iptables-nft's tables), with
 * knockspa's own setup added as the daemon makes it if it is not there yet. Shared by doctor and
 * the daemon's conflict check.
 * @module
 */
import type { PortSpec } from '../protocol/ports.js';
import { runTool } from '../server/firewall/exec.js';
import type { RulesetModel } from '../server/firewall/firewall.js';
import { parseIptables, withOwnChain } from './iptables-rules.js';
import { OWN_GRANT_SETS, parseNft } from './nft-rules.js';
import { withOwnTable } from './own-table.js';
import type { Chain } from './ruleset.js';

export interface Source {
  readonly chains: ReadonlyMap<string, Chain>;
  readonly base: string;
}

/** One line, whatever the tool printed: nft's errors come over several lines with carets. */
export const oneLine = (text: string): string =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^\^+$/.test(l))
    .join(' ');

/** Every input-hook chain that sees packets of `family`, and what could not be read. */
export async function readRuleset(
  family: 4 | 6,
  model: RulesetModel | undefined,
  protect: readonly PortSpec[],
): Promise<{ sources: Source[]; problems: string[] }> {
  const tool = family === 4 ? 'iptables' : 'ip6tables';
  const own = { iptablesJump: model?.iptablesJump, nftTable: model?.nftOwnTable, grantSets: model?.grantSets ?? OWN_GRANT_SETS };
  const sources: Source[] = [];
  const problems: string[] = [];
  let iptablesIsNft = false;
  try {
    const chains = parseIptables((await runTool([tool, '-w', '-S'])).stdout);
    sources.push({ chains: own.iptablesJump === undefined ? chains : withOwnChain(chains, own.iptablesJump), base: 'INPUT' });
    iptablesIsNft = /nf_tables/.test((await runTool([tool, '-V'])).stdout);
  } catch (err) {
    problems.push(`${tool}: ${oneLine((err as Error).message)}`);
  }
  try {
    // iptables-nft keeps its rules in nft tables "ip filter" / "ip6 filter": read once, through iptables.
    const skip = (f: string, table: string): boolean => iptablesIsNft && table === 'filter' && (f === 'ip' || f === 'ip6');
    let doc: unknown = JSON.parse((await runTool(['nft', '-j', 'list', 'ruleset'])).stdout);
    if (own.nftTable === true) doc = withOwnTable(doc, protect);
    const nft = parseNft(doc, skip, own.grantSets);
    for (const b of nft.bases) if (b.families.includes(family)) sources.push({ chains: nft.chains, base: b.key });
  } catch (err) {
    // No nft is fine when iptables answered (iptables-legacy hosts), unless knockspa's table lives there.
    const inNft = model?.nftOwnTable === true || (model?.grantSets.length ?? 0) > 0;
    if (sources.length === 0 || inNft) problems.push(`nft: ${oneLine((err as Error).message)}`);
  }
  return { sources, problems };
}
