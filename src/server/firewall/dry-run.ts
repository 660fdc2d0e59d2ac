/**
 * dry-run backend: logs the iptables commands it would run and remembers what would be open.
 * For trying a config and for the demo without root.
 * @module
 */
import type { Logger } from 'pino';
import type { Firewall, Rule } from './firewall.js';
import { ruleArgs } from './iptables.js';

export class DryRunFirewall implements Firewall {
  readonly name = 'dry-run';
  private readonly open_ = new Set<string>();

  constructor(private readonly log: Logger) {}

  private argv(op: '-I' | '-D', rule: Rule): string[] {
    return [rule.family === 6 ? 'ip6tables' : 'iptables', op, 'INPUT', ...ruleArgs(rule)];
  }

  private key(rule: Rule): string {
    return `${rule.ip} ${rule.proto} ${rule.port}`;
  }

  async open(rule: Rule): Promise<void> {
    this.log.info({ event: 'dry-run', argv: this.argv('-I', rule) }, 'would run');
    this.open_.add(this.key(rule));
  }

  async close(rule: Rule): Promise<void> {
    this.log.info({ event: 'dry-run', argv: this.argv('-D', rule) }, 'would run');
    this.open_.delete(this.key(rule));
  }

  async isOpen(rule: Rule): Promise<boolean> {
    return this.open_.has(this.key(rule));
  }

  async check(): Promise<void> {}
}
