/**
 * The one interface every firewall backend implements; the daemon does not know which it drives.
 * @module
 */
import type { Proto } from '../../protocol/ports.js';

/** One ACCEPT for one address to one port. Values are validated before they get here. */
export interface Rule {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly proto: Proto;
  readonly port: number;
}

export interface Firewall {
  readonly name: string;
  /** Lets `rule` in. Throws FirewallError if the tool fails. */
  open(rule: Rule): Promise<void>;
  /** Removes what open added. Throws FirewallError if the tool fails. */
  close(rule: Rule): Promise<void>;
  /** Whether the rule is in place now. */
  isOpen(rule: Rule): Promise<boolean>;
  /** Checks the tool is present and usable (for start-up and --check). */
  check(): Promise<void>;
}

export class FirewallError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly stderr: string,
    readonly exitCode: number | string | null,
  ) {
    super(`${argv.join(' ')} failed (${exitCode}): ${stderr.trim() || 'no output'}`);
    this.name = 'FirewallError';
  }
}

export function ruleText(rule: Rule): string {
  return `${rule.ip} ${rule.proto}/${rule.port}`;
}
