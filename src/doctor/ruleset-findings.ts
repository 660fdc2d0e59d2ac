/**
 * Server doctor, firewall part: reads the live ruleset (`iptables -S`, `ip6tables -S`,
 * `nft -j list ruleset`) and says, per protected port and address family, whether the base
 * ruleset drops it for everyone (knockspa's own chain or table counted as the daemon sets it up);
 * whether a packet from a granted address gets through every table (conflicts.ts); whether
 * established connections survive a grant's end and, in udp mode, whether knocks can reach the
 * SPA port.
 * @module
 */
import { isIP } from 'node:net';
import { formatPortSpec } from '../protocol/ports.js';
import type { ServerConfig } from '../server/config/config.js';
import { pino } from 'pino';
import { makeFirewall } from '../server/firewall/registry.js';
import { protectedPorts } from '../server/firewall/settings.js';
import { conflictFix, grantConflicts } from './conflicts.js';
import { fail, ok, warn, type Finding } from './finding.js';
import { readRuleset, type Source } from './read-ruleset.js';
import { chainVerdict, combine, type Probe, type Verdict } from './ruleset.js';

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
  const model = makeFirewall(config, pino({ enabled: false })).model;
  for (const family of [4, 6] as const) {
    const ipv = `IPv${family}`;
    const { sources, problems } = await readRuleset(family, model, ports);
    for (const problem of problems)
      findings.push(
        warn(
          `cannot read the ${ipv} ruleset (${problem})`,
          process.getuid?.() === 0
            ? 'install the tool it names (apt-get install iptables nftables); without it the base-ruleset checks below are missing'
            : 'run doctor as root (sudo knockspa doctor); without it the base-ruleset checks below are missing',
        ),
      );
    if (sources.length === 0) continue;

    for (const spec of ports) {
      const v = verdictOf(sources, { family, ...spec, state: 'new' });
      const port = formatPortSpec(spec);
      if (v.kind === 'drop') findings.push(ok(`${port} is dropped for ${ipv} until a knock opens it (${v.by})`));
      else if (v.kind === 'accept')
        findings.push(fail(`${port} is open to every ${ipv} address (${v.by}): knockspa protects nothing there`, dropFix(config, port)));
      else
        findings.push(
          warn(
            `cannot tell whether ${port} is dropped for ${ipv}: ${v.by} uses matches this check does not model`,
            `check from another machine: a connect to ${port} must time out without a knock`,
          ),
        );
    }

    if (config.firewallSettings.backend.capabilities.opensPorts && model !== undefined) {
      const conflicts = grantConflicts(sources, ports, family);
      const ownDrops = config.firewallSettings.backend.capabilities.protectsPorts;
      for (const c of conflicts)
        findings.push(
          c.kind === 'drop'
            ? fail(`a knock cannot open ${c.port} for ${ipv}: ${c.by} drops it even for a granted address`, conflictFix(c, ownDrops))
            : warn(
                `cannot tell whether a knock opens ${c.port} for ${ipv}: ${c.by} uses matches this check does not model`,
                conflictFix(c, ownDrops),
              ),
        );
      const opened = ports.filter((p) => !conflicts.some((c) => c.port === formatPortSpec(p))).map(formatPortSpec);
      if (opened.length > 0) findings.push(ok(`a knock opens ${opened.join(', ')} for ${ipv}: no other table drops what knockspa grants`));
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
