/**
 * The one interface every firewall backend implements; the daemon does not know which it drives.
 * The daemon describes what it wants as changes to entries (one address, one port, one deadline);
 * each backend turns a batch of changes into as few tool calls as its tool allows.
 * @module
 */
import type { PortSpec, Proto } from '../../protocol/ports.js';
import type { KernelScreen, ScreenCounters } from './screen.js';

/** One address let in to one port. Values are validated before they get here. */
export interface Rule {
  readonly ip: string;
  readonly family: 4 | 6;
  readonly proto: Proto;
  readonly port: number;
}

/** A rule as it sits in the firewall: whose it is and when it must be gone. */
export interface Entry extends Rule {
  readonly user: string;
  readonly deadlineMs: number;
}

/**
 * The wanted change for one rule: `before` is what is there (as far as the daemon knows),
 * `after` what must be there. Both undefined never happens; both set means a new deadline.
 */
export interface Change {
  readonly before: Entry | undefined;
  readonly after: Entry | undefined;
}

/** Changes one failed tool call was carrying, and the failure. */
export interface ApplyFailure {
  readonly changes: readonly Change[];
  readonly error: FirewallError;
}

export interface Firewall {
  readonly name: string;
  /** What it manages, for logs and --check (e.g. "table inet knockspa"). */
  readonly description: string;
  /**
   * Creates what the backend owns (table, chain, jump) or puts back what is missing, and makes
   * `protect` the dropped ports where the backend protects ports itself. Idempotent.
   * Throws FirewallError if the tool fails, SetupError if the firewall does not fit the config.
   */
  setup(protect: readonly PortSpec[]): Promise<void>;
  /** Applies changes; never throws for a tool failure, returns what failed instead. */
  apply(changes: readonly Change[]): Promise<ApplyFailure[]>;
  /** The entries knockspa has in the kernel now, or null if this backend cannot see them. */
  list(): Promise<Entry[] | null>;
  /** Checks access without changing anything; resolves with what was checked. Throws like setup. */
  check(protect: readonly PortSpec[]): Promise<string>;
  /** Clean stop, every grant closed: takes out what must not outlive the daemon. */
  detach(): Promise<void>;
  /** Ends the processes the backend keeps started ahead of need (warm-tool.ts); every stop calls it. */
  release(): void;
  /** Takes out everything knockspa put in (`knockspa server --remove-firewall`); says what it did. */
  remove(): Promise<string>;
  /** A start that failed after setup(): takes out what that setup() added (not what was there before). */
  undoSetup?(): Promise<void>;
  /**
   * Where capabilities.screensSpaPort: puts the kernel screen of the SPA port in place or brings
   * it up to date (key ids); null takes it out. Throws FirewallError.
   */
  screen?(screen: KernelScreen | null): Promise<void>;
  /** The screen's drops per reason; null if it is not in place. */
  screenCounters?(): Promise<ScreenCounters | null>;
  /** The key ids the screen in the kernel lets through (sorted hex); null if it is not in place. */
  screenKeyIds?(): Promise<string[] | null>;
  /** Where its rules sit in iptables/nftables, for doctor's model of the ruleset; absent: not there. */
  readonly model?: RulesetModel;
}

/** How a backend's rules appear in the kernel's ruleset (src/doctor/read-ruleset.ts). */
export interface RulesetModel {
  /** The Debian package of its tool, for advice. */
  readonly package: string;
  /** iptables: INPUT's jump to KNOCKSPA goes at this position (1 = first). */
  readonly iptablesJump?: number;
  /** nftables: knockspa's own table (nft-script.ts) holds the grants and drops the protected ports. */
  readonly nftOwnTable?: boolean;
  /** nftables sets ("family table set") whose elements are the grants. */
  readonly grantSets: readonly string[];
}

export class FirewallError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly stderr: string,
    readonly exitCode: number | string | null,
  ) {
    super(`${argv.join(' ')} failed${exitCode === null ? '' : ` (${exitCode})`}: ${stderr.trim() || 'no output'}`);
    this.name = 'FirewallError';
  }
}

/**
 * The firewall does not fit the config: `key` is the config key it is about, `expected` what would
 * fit. Backends know no config file; whoever loaded the config turns this into the ConfigError
 * the user sees (firewall/settings.ts, asConfigError).
 */
export class SetupError extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
  ) {
    super(`${key}: ${expected}`);
    this.name = 'SetupError';
  }
}

export function ruleKey(rule: Rule): string {
  return `${rule.ip} ${rule.proto}/${rule.port}`;
}

/** The rule a change is about. */
export function changedRule(change: Change): Entry {
  const entry = change.after ?? change.before;
  if (entry === undefined) throw new Error('a change with neither before nor after');
  return entry;
}

/** Applies `run` to the whole batch; one failure fails every change in it (an atomic tool call). */
export async function applyAtomically(changes: readonly Change[], run: () => Promise<unknown>): Promise<ApplyFailure[]> {
  if (changes.length === 0) return [];
  try {
    await run();
    return [];
  } catch (err) {
    return [{ changes, error: asFirewallError(err) }];
  }
}

export function asFirewallError(err: unknown): FirewallError {
  return err instanceof FirewallError ? err : new FirewallError([], String(err), null);
}
