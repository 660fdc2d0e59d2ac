/**
 * Server doctor, firewall part: reads the live ruleset (`iptables -S`, `ip6tables -S`,
 * `nft -j list ruleset`) and says, per protected port and address family, whether the base
 * ruleset drops it for everyone; also whether established connections survive a grant's end and,
 * in udp mode, whether knocks can reach the SPA port.
 * @module
 */
import { isIP } from 'node:net';
import { formatPortSpec } from '../protocol/ports.js';
import type { ServerConfig } from '../server/config/config.js';
import { runTool } from '../server/firewall/exec.js';
import { protectedPorts } from '../server/firewall/settings.js';
import { fail, ok, warn, type Finding } from './finding.js';
import { parseIptables } from './iptables-rules.js';
import { parseNft } from './nft-rules.js';
import { chainVerdict, combine, type Chain, type Probe, type Verdict } from './ruleset.js';

interface Source {
  readonly chains: ReadonlyMap<string, Chain>;
  readonly base: string;
}

/** Every input-hook chain that sees packets of `family`, and what could not be read. */
async function readRuleset(family: 4 | 6): Promise<{ sources: Source[]; problems: string[] }> {
  const tool = family === 4 ? 'iptables' : 'ip6tables';
  const sources: Source[] = [];
  const problems: string[] = [];
  let iptablesIsNft = false;
  try {
    sources.push({ chains: parseIptables((await runTool([tool, '-w', '-S'])).stdout), base: 'INPUT' });
    iptablesIsNft = /nf_tables/.test((await runTool([tool, '-V'])).stdout);
  } catch (err) {
    problems.push(`${tool}: ${(err as Error).message}`);
  }
  try {
    // iptables-nft keeps its rules in nft tables "ip filter" / "ip6 filter": read once, through iptables.
    const skip = (f: string, table: string): boolean => iptablesIsNft && table === 'filter' && (f === 'ip' || f === 'ip6');
    const nft = parseNft(JSON.parse((await runTool(['nft', '-j', 'list', 'ruleset'])).stdout), skip);
    for (const b of nft.bases) if (b.families.includes(family)) sources.push({ chains: nft.chains, base: b.key });
  } catch (err) {
    // No nft is fine when iptables answered (iptables-legacy hosts).
    if (sources.length === 0) problems.push(`nft: ${(err as Error).message}`);
  }
  return { sources, problems };
}

function verdictOf(sources: readonly Source[], probe: Probe): Verdict {
  return combine(sources.map((s) => chainVerdict(s.chains, s.base, probe)));
}

/** The families the daemon's udp socket receives. */
function listenFamilies(config: ServerConfig): Array<4 | 6> {
  if (config.address === '::') return [4, 6];
  return [isIP(config.address) === 6 ? 6 : 4];
}

/** How to get a port dropped: a backend that drops ports itself does once the daemon has set it up. */
function dropFix(config: ServerConfig, port: string): string {
  if (config.firewallSettings.backend.capabilities.protectsPorts)
    return `start the daemon (firewall = "${config.firewall}" drops ${port} itself once set up), or make the base ruleset drop it`;
  return `make the base ruleset drop ${port} and remove what accepts it (docs/operations.md, "Base ruleset")`;
}

export async function rulesetFindings(config: ServerConfig): Promise<Finding[]> {
  const findings: Finding[] = [];
  const ports = protectedPorts(config.firewallSettings.protect, config.users.values());
  for (const family of [4, 6] as const) {
    const ipv = `IPv${family}`;
    const { sources, problems } = await readRuleset(family);
    for (const problem of problems)
      findings.push(
        warn(`cannot read the ${ipv} ruleset (${problem})`, 'run doctor as root; without it the base-ruleset checks below are missing'),
      );
    if (sources.length === 0) continue;

    for (const spec of ports) {
      const v = verdictOf(sources, { family, ...spec, state: 'new' });
      const port = formatPortSpec(spec);
      if (v.kind === 'drop') findings.push(ok(`${port} is dropped for ${ipv} until a knock opens it (${v.by})`));
      else if (v.kind === 'accept')
        findings.push(warn(`${port} is open to every ${ipv} address (${v.by}): knockspa protects nothing there`, dropFix(config, port)));
      else
        findings.push(
          warn(
            `cannot tell whether ${port} is dropped for ${ipv}: ${v.by} uses matches this check does not model`,
            `check from another machine: a connect to ${port} must time out without a knock`,
          ),
        );
    }

    const tcp = ports.find((p) => p.proto === 'tcp');
    if (tcp !== undefined) {
      const v = verdictOf(sources, { family, ...tcp, state: 'established' });
      if (v.kind === 'accept') findings.push(ok(`established ${ipv} connections are accepted: a session outlives its grant`));
      else if (v.kind === 'drop')
        findings.push(
          warn(
            `established ${ipv} connections to ${formatPortSpec(tcp)} are dropped (${v.by}): sessions die when their grant closes`,
            `accept them first: ${family === 4 ? 'iptables' : 'ip6tables'} -I INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
          ),
        );
    }

    if (config.listen === 'udp' && listenFamilies(config).includes(family)) {
      const v = verdictOf(sources, { family, proto: 'udp', port: config.port, state: 'new' });
      if (v.kind === 'drop')
        findings.push(
          fail(
            `the SPA port udp/${config.port} is dropped for ${ipv} (${v.by}): knocks never reach the daemon`,
            `accept it before that rule (${family === 4 ? 'iptables' : 'ip6tables'} -I INPUT -p udp --dport ${config.port} -j ACCEPT), or use listen = "pcap"`,
          ),
        );
      else if (v.kind === 'accept') findings.push(ok(`the SPA port udp/${config.port} is reachable over ${ipv}`));
    }
  }
  return findings;
}
