/**
 * iptables / ip6tables backend: the source documents' rule,
 * `-s IP -p PROTO --dport PORT -j ACCEPT`, inside knockspa's own chain KNOCKSPA, which INPUT jumps
 * to at a configured position. Every rule carries the comment "knockspa USER until DEADLINE", so a
 * restarted daemon finds each of its rules and its deadline by listing the chain, state file or not.
 * Batches go through one `iptables-restore --noflush` per family (atomic: all or nothing), started
 * ahead of need (warm-tool.ts).
 * The ports themselves stay dropped by the admin's own rules (README, "Base ruleset").
 * @module
 */
import { canonicalIp } from '../../protocol/address.js';
import type { Proto } from '../../protocol/ports.js';
import { entryComment, parseComment } from './comment.js';
import { probeTool, runTool } from './exec.js';
import { WarmTool } from './warm-tool.js';
import { InTurn } from './in-turn.js';
import { defineBackend } from './backend.js';
import {
  applyAtomically,
  FirewallError,
  SetupError,
  type ApplyFailure,
  type Change,
  type Entry,
  type Firewall,
  type RulesetModel,
} from './firewall.js';
import { parseScreenCounters, parseScreenRule, restoreLine as screenLine, screenRules, screenTag } from './iptables-screen.js';
import type { KernelScreen, ScreenCounters } from './screen.js';

export const CHAIN = 'KNOCKSPA';
const FAMILIES = [4, 6] as const;
const JUMP = ['-j', CHAIN] as const;

/** iptables, ip6tables, or their -restore. */
function tool(family: 4 | 6, restore = false): string {
  return `${family === 6 ? 'ip6tables' : 'iptables'}${restore ? '-restore' : ''}`;
}

/** The rule's words after `-A KNOCKSPA` (as `iptables -S` prints them, so they also work with -D). */
export function ruleWords(entry: Entry): string[] {
  const mask = entry.family === 6 ? 128 : 32;
  return [
    '-s',
    `${entry.ip}/${mask}`,
    '-p',
    entry.proto,
    '-m',
    entry.proto,
    '--dport',
    String(entry.port),
    '-m',
    'comment',
    '--comment',
    entryComment(entry),
    '-j',
    'ACCEPT',
  ];
}

/** One iptables-restore line; only the comment has spaces, and it has no quotes of its own. */
function restoreLine(op: '-A' | '-D', entry: Entry): string {
  return [op, CHAIN, ...ruleWords(entry)].map((w) => (w.includes(' ') ? `"${w}"` : w)).join(' ');
}

/** iptables-restore input for one family's changes: deletes of what was, appends of what must be. */
export function restoreScript(changes: readonly Change[]): string {
  const lines = ['*filter'];
  for (const { before, after } of changes) {
    if (before !== undefined) lines.push(restoreLine('-D', before));
    if (after !== undefined) lines.push(restoreLine('-A', after));
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

const LISTED = /^-A KNOCKSPA -s (\S+)\/(32|128) -p (tcp|udp) -m (?:tcp|udp) --dport (\d+) -m comment --comment "?([^"]*)"? -j ACCEPT$/;

/** knockspa's rules in an `iptables -S KNOCKSPA` listing (others are left alone). */
export function parseChain(listing: string, family: 4 | 6): Entry[] {
  const entries: Entry[] = [];
  for (const line of listing.split('\n')) {
    const m = LISTED.exec(line.trim());
    const ip = m === null ? null : canonicalIp(m[1] as string);
    if (m === null || ip === null) continue;
    const rule = { ip, proto: m[3] as Proto, port: Number(m[4]) };
    const owner = parseComment(m[5] as string, rule);
    if (owner !== null) entries.push({ ...rule, family, user: owner.user, deadlineMs: owner.deadlineMs });
  }
  return entries;
}

function restoreArgv(family: 4 | 6): string[] {
  return [tool(family, true), '-w', '--noflush'];
}

export interface IptablesOptions {
  /** INPUT position of the jump to KNOCKSPA (1 = first). */
  readonly jumpPosition: number;
}

export class IptablesFirewall implements Firewall {
  readonly name = 'iptables';
  readonly description: string;
  /** iptables-restore per family, started ahead of the knocks that need it. */
  private readonly restore: Record<4 | 6, WarmTool> = { 4: new WarmTool(restoreArgv(4)), 6: new WarmTool(restoreArgv(6)) };

  readonly model: RulesetModel;

  constructor(private readonly opts: IptablesOptions) {
    this.description = `chain ${CHAIN} (iptables and ip6tables), jumped to from INPUT position ${opts.jumpPosition}`;
    this.model = { package: 'iptables', iptablesJump: opts.jumpPosition, grantSets: [] };
  }

  /** Families whose chain this process's setup() made (undoSetup takes those out). */
  private made = new Set<4 | 6>();
  /** The kernel screen last put in place, for a repair to put back. */
  private screened: KernelScreen | null = null;
  /** Screen updates and repairs, one after another (in-turn.ts). */
  private readonly screenTurn = new InTurn();

  async setup(): Promise<void> {
    for (const family of FAMILIES) {
      const ipt = tool(family);
      if (!(await probeTool([ipt, '-w', '-S', CHAIN]))) {
        await runTool([ipt, '-w', '-N', CHAIN]);
        this.made.add(family);
      }
      if (!(await this.jumpFits(family))) await runTool([ipt, '-w', '-I', 'INPUT', String(this.opts.jumpPosition), ...JUMP]);
      this.restore[family].prime();
    }
    // A repair (the chain deleted underneath) puts the screen back with it; unchanged, it is left alone.
    if (this.screened !== null) await this.screenTurn.run(() => this.applyScreen());
  }

  /**
   * The screen at the top of KNOCKSPA (iptables-screen.ts): length and first byte; one
   * iptables-restore per family takes out the old rules and puts in the new, unless they are the same.
   */
  async screen(screen: KernelScreen | null): Promise<void> {
    // First: a sweep's setup() from now on puts back this screen, not the one it replaces.
    this.screened = screen;
    await this.screenTurn.run(() => this.applyScreen());
  }

  /** Brings the rules in the kernel to the latest screen asked for. */
  private async applyScreen(): Promise<void> {
    const screen = this.screened;
    for (const family of FAMILIES) {
      const listing = await runTool([tool(family), '-w', '-S', CHAIN]).catch(noChain);
      if (listing === null) continue; // no chain: nothing to take out, and setup() comes first
      const present = listing.stdout.split('\n').flatMap((l) => parseScreenRule(l.trim()) ?? []);
      const wanted = screen === null ? [] : screenRules(screen, family);
      const tag = screen === null ? null : screenTag(screen);
      if (present.length === wanted.length && present.every((r) => r.tag === tag)) continue;
      const lines = ['*filter', ...present.map((r) => screenLine('-D', CHAIN, r.words))];
      wanted.forEach((words, i) => lines.push(screenLine('-I', CHAIN, [String(i + 1), ...words])));
      lines.push('COMMIT', '');
      await runTool(restoreArgv(family), lines.join('\n'));
    }
  }

  async screenCounters(): Promise<ScreenCounters | null> {
    const listings: string[] = [];
    for (const family of FAMILIES) {
      const listing = await runTool([tool(family), '-w', '-v', '-S', CHAIN]).catch(noChain);
      if (listing !== null) listings.push(listing.stdout);
    }
    return parseScreenCounters(listings);
  }

  async check(): Promise<string> {
    for (const family of FAMILIES) {
      await this.jumpFits(family);
      // --test parses and checks a rule like knockspa's (comment match included) and commits nothing.
      const probe: Entry = { ip: family === 4 ? '192.0.2.1' : '2001:db8::1', family, proto: 'tcp', port: 22, user: 'check', deadlineMs: 0 };
      await runTool(
        [tool(family, true), '-w', '--test', '--noflush'],
        `*filter\n${restoreLine('-A', probe).replace(` ${CHAIN} `, ' INPUT ')}\nCOMMIT\n`,
      );
    }
    return `iptables: ${this.description}`;
  }

  /** True if INPUT already jumps to KNOCKSPA; false if the jump can go in; SetupError if the position is past the end. */
  private async jumpFits(family: 4 | 6): Promise<boolean> {
    const input = (await runTool([tool(family), '-w', '-S', 'INPUT'])).stdout.split('\n');
    if (input.includes(`-A INPUT -j ${CHAIN}`)) return true;
    const rules = input.filter((l) => l.startsWith('-A INPUT')).length;
    if (this.opts.jumpPosition > rules + 1)
      throw new SetupError(
        'iptables_jump_position',
        `at most ${rules + 1}: ${tool(family)} INPUT has ${rules} rules, got ${this.opts.jumpPosition}`,
      );
    return false;
  }

  async apply(changes: readonly Change[]): Promise<ApplyFailure[]> {
    const failures: ApplyFailure[] = [];
    for (const family of FAMILIES) {
      const mine = changes.filter((c) => (c.after ?? c.before)?.family === family);
      if (mine.length === 0) continue; // no await: an IPv6 batch goes to its tool in this same turn
      failures.push(...(await applyAtomically(mine, () => this.restore[family].run(restoreScript(mine)))));
    }
    return failures;
  }

  async list(): Promise<Entry[]> {
    const entries: Entry[] = [];
    for (const family of FAMILIES) {
      const { stdout } = await runTool([tool(family), '-w', '-S', CHAIN]);
      entries.push(...parseChain(stdout, family));
    }
    return entries;
  }

  release(): void {
    for (const family of FAMILIES) this.restore[family].release();
  }

  /** After a clean stop the chain is empty but for the screen: take them and the jump out, leaving INPUT as it was. */
  async detach(): Promise<void> {
    await this.screen(null);
    for (const family of FAMILIES) {
      const ipt = tool(family);
      const listing = await runTool([ipt, '-w', '-S', CHAIN]).catch(() => null);
      if (listing === null || listing.stdout.split('\n').some((l) => l.startsWith('-A '))) continue;
      await this.unhook(family);
    }
  }

  async undoSetup(): Promise<void> {
    // The screen goes too where the chain was there before (its rules are this start's).
    if (this.screened !== null) await this.screen(null);
    for (const family of this.made) {
      await runTool([tool(family), '-w', '-F', CHAIN]);
      await this.unhook(family);
    }
    this.made.clear();
  }

  async remove(): Promise<string> {
    let removed = 0;
    for (const family of FAMILIES) {
      if (!(await probeTool([tool(family), '-w', '-S', CHAIN]))) continue;
      await runTool([tool(family), '-w', '-F', CHAIN]);
      await this.unhook(family);
      removed++;
    }
    return removed === 0
      ? `iptables: no ${CHAIN} chain, nothing to remove`
      : `iptables: removed chain ${CHAIN} and its jump from INPUT (${removed === 2 ? 'iptables and ip6tables' : 'one family'})`;
  }

  private async unhook(family: 4 | 6): Promise<void> {
    const ipt = tool(family);
    while (await probeTool([ipt, '-w', '-C', 'INPUT', ...JUMP])) await runTool([ipt, '-w', '-D', 'INPUT', ...JUMP]);
    await runTool([ipt, '-w', '-X', CHAIN]);
  }
}

/** A listing of a chain that is not there (exit 1): null; other failures are thrown. */
function noChain(err: unknown): null {
  if (err instanceof FirewallError && err.exitCode === 1) return null;
  throw err;
}

/** `firewall = "iptables"`; `iptables_jump_position` places the jump. */
export const iptablesBackend = defineBackend<IptablesOptions>({
  name: 'iptables',
  keys: ['iptables_jump_position'],
  read: (r) => ({ jumpPosition: r.int('iptables_jump_position', 1, 100_000, 1) }),
  capabilities: { lists: true, outlivesReboot: false, protectsPorts: false, opensPorts: true, screensSpaPort: true },
  make: (settings) => new IptablesFirewall(settings),
});
