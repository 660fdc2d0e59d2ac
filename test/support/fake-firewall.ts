// A recording Firewall for unit tests of the grant lifecycle (the e2e tests use the real iptables).
import type { Firewall, Rule } from '../../src/server/firewall/firewall.js';
import { FirewallError } from '../../src/server/firewall/firewall.js';

export class FakeFirewall implements Firewall {
  readonly name = 'fake';
  readonly calls: string[] = [];
  readonly rules = new Set<string>();
  failOpen = false;
  failClose = false;
  /** Most operations in flight at once: the daemon must keep this at 1. */
  maxInFlight = 0;
  private inFlight = 0;

  static key(rule: Rule): string {
    return `${rule.ip} ${rule.proto}/${rule.port}`;
  }

  private async op(name: string, rule: Rule, fail: boolean, apply: () => void): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    this.calls.push(`${name} ${FakeFirewall.key(rule)}`);
    if (fail) throw new FirewallError(['fake', name], `fake ${name} failure`, 1);
    apply();
  }

  open(rule: Rule): Promise<void> {
    return this.op('open', rule, this.failOpen, () => this.rules.add(FakeFirewall.key(rule)));
  }

  close(rule: Rule): Promise<void> {
    return this.op('close', rule, this.failClose, () => this.rules.delete(FakeFirewall.key(rule)));
  }

  async isOpen(rule: Rule): Promise<boolean> {
    return this.rules.has(FakeFirewall.key(rule));
  }

  async check(): Promise<void> {}
}
