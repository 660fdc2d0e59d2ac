/**
 * Firewall rulesets in the lab: the base ruleset a test server starts from (iptables and
 * ip6tables INPUT), and reading rules back, in a namespace of a {@link TestNet} or (read only) in
 * the root namespace, to prove a run left the host's own firewall alone.
 * @module
 */
import { spawnSync } from 'node:child_process';
import type { Family, TestNet } from './netns.js';
import type { RunResult } from './process.js';

export interface BaseRulesetOptions {
  /** The SPA port. */
  spaPort: number;
  /** 'udp': the SPA port is accepted; 'pcap': it is dropped too (the capture sees it anyway). */
  udpMode: boolean;
}

/** The rules {@link baseRuleset} installs, as `iptables -S INPUT` prints them (policy line first). */
export function baseRules(port: number, opts: BaseRulesetOptions, family: Family): string[] {
  const rules = ['-P INPUT ACCEPT', '-A INPUT -i lo -j ACCEPT', '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'];
  if (family === 6) rules.push('-A INPUT -p ipv6-icmp -j ACCEPT');
  rules.push(`-A INPUT -p udp -m udp --dport ${opts.spaPort} -j ${opts.udpMode ? 'ACCEPT' : 'DROP'}`);
  rules.push(`-A INPUT -p tcp -m tcp --dport ${port} -j DROP`);
  return rules;
}

/**
 * Replaces INPUT in the server namespace (iptables and ip6tables) by the base ruleset: loopback
 * and established traffic accepted, ICMPv6 accepted (neighbour discovery), the SPA port accepted
 * in udp mode and dropped in pcap mode, and the protected TCP port dropped (silently, no reject).
 * Returns what `iptables -S INPUT` / `ip6tables -S INPUT` print afterwards.
 */
export async function baseRuleset(net: TestNet, port: number, opts: BaseRulesetOptions): Promise<{ v4: string[]; v6: string[] }> {
  for (const tool of ['iptables', 'ip6tables'] as const) {
    const ipt = (...args: string[]): Promise<RunResult> => net.runOk(net.srv, [tool, '-w', ...args]);
    await ipt('-P', 'INPUT', 'ACCEPT');
    await ipt('-F', 'INPUT');
    await ipt('-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT');
    await ipt('-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
    if (tool === 'ip6tables') await ipt('-A', 'INPUT', '-p', 'ipv6-icmp', '-j', 'ACCEPT');
    await ipt('-A', 'INPUT', '-p', 'udp', '--dport', String(opts.spaPort), '-j', opts.udpMode ? 'ACCEPT' : 'DROP');
    await ipt('-A', 'INPUT', '-p', 'tcp', '--dport', String(port), '-j', 'DROP');
  }
  return { v4: await iptablesRules(net, net.srv, 4), v6: await iptablesRules(net, net.srv, 6) };
}

/** `iptables -S INPUT` (or ip6tables for family 6) in namespace ns, one rule per element. */
export async function iptablesRules(net: TestNet, ns: string, family: Family = 4, chain = 'INPUT'): Promise<string[]> {
  const r = await net.runOk(ns, [family === 4 ? 'iptables' : 'ip6tables', '-w', '-S', chain]);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** Whole-table dumps (`iptables -S`, `ip6tables -S`) of ns, for before/after comparisons. */
export async function firewallSnapshot(net: TestNet, ns: string): Promise<{ v4: string; v6: string }> {
  const v4 = await net.runOk(ns, ['iptables', '-w', '-S']);
  const v6 = await net.runOk(ns, ['ip6tables', '-w', '-S']);
  return { v4: v4.stdout, v6: v6.stdout };
}

/** Rules in the server's INPUT that accept something from a given source (what a grant inserts). */
export async function acceptRules(net: TestNet, family: Family = 4): Promise<string[]> {
  return (await iptablesRules(net, net.srv, family)).filter((r) => / -s \S+/.test(r) && / -j ACCEPT$/.test(r));
}

/** `iptables -S` and `ip6tables -S` of the root namespace (read only), or null if unusable there. */
export function rootFirewallSnapshot(): { v4: string; v6: string } | null {
  const v4 = spawnSync('iptables', ['-w', '-S'], { encoding: 'utf8', timeout: 10_000 });
  const v6 = spawnSync('ip6tables', ['-w', '-S'], { encoding: 'utf8', timeout: 10_000 });
  if (v4.status !== 0 || v6.status !== 0) return null;
  return { v4: v4.stdout, v6: v6.stdout };
}
