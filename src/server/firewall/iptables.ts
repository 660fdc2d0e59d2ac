/**
 * iptables / ip6tables backend: the source documents' rule,
 * `-s IP -p PROTO --dport PORT -j ACCEPT`, inside knockspa's own chain KNOCKSPA, which INPUT jumps
 * to at a configured position. Every rule carries the comment "knockspa USER until DEADLINE", so a
 * restarted daemon finds each of its rules and its deadline by listing the chain, state file or not.
 * Batches go through one `iptables-restore --noflush` per family (atomic: all or nothing), started
 * ahead of need with a warm-up to parse while it waits (see {@link restorePrelude}).
 * The ports themselves stay dropped by the admin's own rules (README, "Base ruleset").
 * @module
 */
import { canonicalIp } from '../../protocol/address.js';
import type { Proto } from '../../protocol/ports.js';
import { entryComment, parseComment } from './comment.js';
import { probeTool, runTool } from './exec.js';
import { WarmTool } from './warm-tool.js';
import { ConfigError } from '../../shared/errors.js';
import { applyAtomically, FirewallError, type ApplyFailure, type Change, type Entry, type Firewall } from './firewall.js';

export const CHAIN = 'KNOCKSPA';
const FAMILIES = [4, 6] as const;
const JUMP = ['-j', CHAIN] as const;

/** iptables, ip6tables, their -restore; with `nft`, the nf_tables variant by its own name (iptables-nft-restore). */
function tool(family: 4 | 6, restore = false, nft = false): string {
  return `${family === 6 ? 'ip6tables' : 'iptables'}${nft ? '-nft' : ''}${restore ? '-restore' : ''}`;
}

/** The rule's words after `-A KNOCKSPA` (as `iptables -S` prints them, so they also work with -D). */
export function ruleWords(entry: Entry): string[] {
  const mask = entry.family === 6 ? 128 : 32;
  return ['-s', `${entry.ip}/${mask}`, '-p', entry.proto, '-m', entry.proto, '--dport', String(entry.port), '-m', 'comment', '--comment', entryComment(entry), '-j', 'ACCEPT'];
}

/** One iptables-restore line; only the comment has spaces, and it has no quotes of its own. */
function restoreLine(op: '-A' | '-D', entry: Entry): string {
  return [op, CHAIN, ...ruleWords(entry)].map((w) => (w.includes(' ') ? `"${w}"` : w)).join(' ');
}

const TABLE_LINE = '*filter';

/** A chain of knockspa's that exists only inside a restore batch: made and deleted in the same one. */
export const WARMUP_CHAIN = 'KNOCKSPA-WARMUP';

/**
 * The start of every iptables-restore input (the nf_tables variant's), written to a spare as it
 * starts: rules like knockspa's (tcp, udp, comment, ACCEPT) in a chain that the same batch makes,
 * flushes and deletes, so none of it ever reaches the ruleset. Parsing them loads the tool's
 * extensions (libxt_tcp, libxt_comment, ...) and asks the kernel their revisions while the spare
 * waits: ~0.7 ms a knock paid after its batch arrived (2.9 against 2.1 ms from batch to exit, here).
 * The nf_tables variant reads the ruleset only at COMMIT and takes no lock, so a spare that waited
 * holds no stale view and blocks nobody. Not for the legacy variant: at `*filter` it takes the
 * xtables lock (every other `iptables -w` on the host would wait for the next knock) and a copy of
 * the table that its COMMIT writes back. The tool's "line N" in an error counts these lines.
 */
export function restorePrelude(family: 4 | 6): string {
  const src = family === 6 ? '::1/128' : '127.0.0.1/32';
  return [
    TABLE_LINE,
    `-N ${WARMUP_CHAIN}`,
    `-A ${WARMUP_CHAIN} -s ${src} -p tcp -m tcp --dport 9 -m comment --comment warm-up -j ACCEPT`,
    `-A ${WARMUP_CHAIN} -s ${src} -p udp -m udp --dport 9 -j ACCEPT`,
    `-F ${WARMUP_CHAIN}`,
    `-X ${WARMUP_CHAIN}`,
    '',
  ].join('\n');
}

const PRELUDE_LINES = restorePrelude(4).split('\n').length - 1;

/**
 * iptables-restore input for one family's changes: deletes of what was, appends of what must be.
 * Without its table line after a {@link restorePrelude}, which has it.
 */
export function restoreScript(changes: readonly Change[], tableLine = true): string {
  const lines = tableLine ? [TABLE_LINE] : [];
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

/** True if `file -V` names the nf_tables variant ("iptables-restore v1.8.9 (nf_tables)"); false for legacy or no such tool. */
async function isNftVariant(file: string): Promise<boolean> {
  try {
    return (await runTool([file, '-V'])).stdout.includes('(nf_tables)');
  } catch {
    return false;
  }
}

/** The tool's "line N" counts the prelude's lines first: said, for whoever reads the log. */
function withPreludeNote(err: unknown): unknown {
  if (!(err instanceof FirewallError)) return err;
  const note = `(lines 1-${PRELUDE_LINES} of its input are knockspa's warm-up, restorePrelude)`;
  return new FirewallError(err.argv, `${err.stderr.trim()} ${note}`, err.exitCode);
}

export interface IptablesOptions {
  /** INPUT position of the jump to KNOCKSPA (1 = first). */
  readonly jumpPosition: number;
  /** The config file, named when the position does not fit. */
  readonly configFile: string;
}

export class IptablesFirewall implements Firewall {
  readonly name = 'iptables';
  readonly description: string;
  /** iptables-restore per family, started ahead of the knocks that need it; with a prelude once setup found the nf_tables variant. */
  private readonly restore: Record<4 | 6, WarmTool> = { 4: new WarmTool(restoreArgv(4)), 6: new WarmTool(restoreArgv(6)) };
  /** Set once setup has asked which iptables variant this is. */
  private variantKnown = false;

  constructor(private readonly opts: IptablesOptions) {
    this.description = `chain ${CHAIN} (iptables and ip6tables), jumped to from INPUT position ${opts.jumpPosition}`;
  }

  async setup(): Promise<void> {
    // Before any change, and at every setup (a repair too): with a prelude, a batch's -N of an
    // existing chain fails every knock; this says why.
    if (!this.variantKnown) {
      this.variantKnown = true;
      for (const family of FAMILIES) await this.warmUpIfNft(family);
    }
    for (const family of FAMILIES) {
      const ipt = tool(family, false, true);
      if (this.restore[family].prelude !== '' && (await probeTool([ipt, '-w', '-S', WARMUP_CHAIN])))
        throw new Error(`${ipt}: a chain ${WARMUP_CHAIN} exists; knockspa's batches make and delete a chain of that name (KNOCKSPA-* names are knockspa's): rename it, or delete it with ${ipt} -X ${WARMUP_CHAIN}`);
    }
    for (const family of FAMILIES) {
      const ipt = tool(family);
      if (!(await probeTool([ipt, '-w', '-S', CHAIN]))) await runTool([ipt, '-w', '-N', CHAIN]);
      if (!(await this.jumpFits(family))) await runTool([ipt, '-w', '-I', 'INPUT', String(this.opts.jumpPosition), ...JUMP]);
      this.restore[family].prime();
    }
  }

  /**
   * With iptables' nf_tables variant, spares get the prelude, run by the nf_tables tool's own name
   * (iptables-nft-restore): a later switch of the host's alternatives to legacy cannot hand the
   * prelude to a legacy tool (it would hold the xtables lock and write back a stale table).
   */
  private async warmUpIfNft(family: 4 | 6): Promise<void> {
    const nftRestore = tool(family, true, true);
    if (!(await isNftVariant(tool(family, true))) || !(await isNftVariant(nftRestore))) return;
    this.restore[family].release();
    this.restore[family] = new WarmTool([nftRestore, '-w', '--noflush'], restorePrelude(family));
  }

  async check(): Promise<string> {
    for (const family of FAMILIES) {
      await this.jumpFits(family);
      // --test parses and checks a rule like knockspa's (comment match included) and commits nothing.
      const probe: Entry = { ip: family === 4 ? '192.0.2.1' : '2001:db8::1', family, proto: 'tcp', port: 22, user: 'check', deadlineMs: 0 };
      await runTool([tool(family, true), '-w', '--test', '--noflush'], `*filter\n${restoreLine('-A', probe).replace(` ${CHAIN} `, ' INPUT ')}\nCOMMIT\n`);
    }
    return `iptables: ${this.description}`;
  }

  /** True if INPUT already jumps to KNOCKSPA; false if the jump can go in; ConfigError if the position is past the end. */
  private async jumpFits(family: 4 | 6): Promise<boolean> {
    const input = (await runTool([tool(family), '-w', '-S', 'INPUT'])).stdout.split('\n');
    if (input.includes(`-A INPUT -j ${CHAIN}`)) return true;
    const rules = input.filter((l) => l.startsWith('-A INPUT')).length;
    if (this.opts.jumpPosition > rules + 1)
      throw new ConfigError(this.opts.configFile, 'iptables_jump_position', `at most ${rules + 1}: ${tool(family)} INPUT has ${rules} rules, got ${this.opts.jumpPosition}`);
    return false;
  }

  async apply(changes: readonly Change[]): Promise<ApplyFailure[]> {
    const failures: ApplyFailure[] = [];
    for (const family of FAMILIES) {
      const mine = changes.filter((c) => (c.after ?? c.before)?.family === family);
      if (mine.length === 0) continue; // no await: an IPv6 batch goes to its tool in this same turn
      const restore = this.restore[family];
      const warm = restore.prelude !== ''; // the prelude has the table line
      const run = (): Promise<unknown> => restore.run(restoreScript(mine, !warm)).catch((err: unknown) => Promise.reject(warm ? withPreludeNote(err) : err));
      failures.push(...(await applyAtomically(mine, run)));
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

  /** After a clean stop the chain is empty: take it and the jump out, leaving INPUT as it was. */
  async detach(): Promise<void> {
    for (const family of FAMILIES) {
      const ipt = tool(family);
      const listing = await runTool([ipt, '-w', '-S', CHAIN]).catch(() => null);
      if (listing === null || listing.stdout.split('\n').some((l) => l.startsWith('-A '))) continue;
      await this.unhook(family);
    }
  }

  async remove(): Promise<string> {
    let removed = 0;
    for (const family of FAMILIES) {
      if (!(await probeTool([tool(family), '-w', '-S', CHAIN]))) continue;
      await runTool([tool(family), '-w', '-F', CHAIN]);
      await this.unhook(family);
      removed++;
    }
    return removed === 0 ? `iptables: no ${CHAIN} chain, nothing to remove` : `iptables: removed chain ${CHAIN} and its jump from INPUT (${removed === 2 ? 'iptables and ip6tables' : 'one family'})`;
  }

  private async unhook(family: 4 | 6): Promise<void> {
    const ipt = tool(family);
    while (await probeTool([ipt, '-w', '-C', 'INPUT', ...JUMP])) await runTool([ipt, '-w', '-D', 'INPUT', ...JUMP]);
    await runTool([ipt, '-w', '-X', CHAIN]);
  }
}
