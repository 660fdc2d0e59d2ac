/**
 * iptables / ip6tables backend: the source documents' rule,
 * `iptables -I INPUT -s IP -p PROTO --dport PORT -j ACCEPT`, and the matching -D.
 * `-w` waits for the xtables lock instead of failing when another tool holds it.
 * @module
 */
import { probeTool, runTool } from './exec.js';
import type { Firewall, Rule } from './firewall.js';

function tool(rule: Pick<Rule, 'family'>): string {
  return rule.family === 6 ? 'ip6tables' : 'iptables';
}

export function ruleArgs(rule: Rule): string[] {
  return ['-s', rule.ip, '-p', rule.proto, '--dport', String(rule.port), '-j', 'ACCEPT'];
}

export class IptablesFirewall implements Firewall {
  readonly name = 'iptables';

  async open(rule: Rule): Promise<void> {
    await runTool([tool(rule), '-w', '-I', 'INPUT', ...ruleArgs(rule)]);
  }

  async close(rule: Rule): Promise<void> {
    await runTool([tool(rule), '-w', '-D', 'INPUT', ...ruleArgs(rule)]);
  }

  isOpen(rule: Rule): Promise<boolean> {
    return probeTool([tool(rule), '-w', '-C', 'INPUT', ...ruleArgs(rule)]);
  }

  async check(): Promise<void> {
    await runTool(['iptables', '-w', '-S', 'INPUT']);
    await runTool(['ip6tables', '-w', '-S', 'INPUT']);
  }
}
