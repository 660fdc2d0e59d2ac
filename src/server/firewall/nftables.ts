/**
 * nftables backend: each grant is a set element (address . protocol . port) with a timeout, so
 * the kernel itself removes it at the deadline, daemon or no daemon.
 *
 * Own table (default): `table inet knockspa` holds the sets and an input chain that accepts their
 * members and drops the protected ports. It stays when the daemon stops (grants out, protection
 * in); only `remove()` deletes it. Set mode (`nft_set`): knockspa only adds and deletes elements
 * in the admin's set(s), whose type is checked first.
 * @module
 */
import type { PortSpec } from '../../protocol/ports.js';
import type { TableReader } from '../config/table-reader.js';
import { defineBackend } from './backend.js';
import { runTool } from './exec.js';
import { WarmTool } from './warm-tool.js';
import { InTurn } from './in-turn.js';
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
import {
  changesScript,
  CHAIN_PRIORITY,
  describeProtected,
  formatNftSetRef,
  listedEntries,
  OWN_SETS,
  OWN_TABLE,
  ownTableScript,
  parseListedSet,
  parseNftSetRef,
  setFamily,
  type NftSetRef,
} from './nft-script.js';
import { KEY_ID_SET, parseKeyIdSet, parseScreenCounters, removeScreenScript, screenScript } from './nft-screen.js';
import type { KernelScreen, ScreenCounters } from './screen.js';
import { KEY_ID_SIZE } from '../../protocol/constants.js';

const NFT = 'nft';

export interface NftablesOptions {
  /** The admin's sets (set mode); empty for knockspa's own table. */
  readonly sets: readonly NftSetRef[];
  readonly now?: () => number;
}

export class NftablesFirewall implements Firewall {
  readonly name = 'nftables';
  readonly description: string;
  private readonly own: boolean;
  private readonly now: () => number;
  /** Which set takes which family: fixed for the own table, learnt from the set types otherwise. */
  private sets: Partial<Record<4 | 6, NftSetRef>>;
  /** `nft -f -` for the grants' batches, started ahead of the knocks that need it. */
  private readonly batches = new WarmTool([NFT, '-f', '-']);
  /** The kernel screen last put in place, for a repair to put back. */
  private screened: KernelScreen | null = null;
  /** Screen updates and repairs, one after another (in-turn.ts). */
  private readonly screenTurn = new InTurn();

  constructor(private readonly opts: NftablesOptions) {
    this.own = opts.sets.length === 0;
    this.now = opts.now ?? Date.now;
    this.sets = this.own ? { ...OWN_SETS } : {};
    this.description = this.own
      ? `table ${OWN_TABLE}`
      : `set${opts.sets.length > 1 ? 's' : ''} ${opts.sets.map(formatNftSetRef).join(', ')}`;
    this.model = {
      package: 'nftables',
      nftOwnTable: this.own,
      grantSets: (this.own ? Object.values(OWN_SETS) : opts.sets).map(formatNftSetRef),
    };
  }

  readonly model: RulesetModel;

  /** True if this process's setup() made the table (undoSetup deletes it then, and only then). */
  private made = false;

  async setup(protect: readonly PortSpec[]): Promise<void> {
    if (this.own) {
      // A repair (the table deleted underneath) puts the screen back with it: the latest one, in turn with screen().
      await this.screenTurn.run(async () => {
        this.made = !(await this.hasOwnTable());
        await runTool([NFT, '-f', '-'], ownTableScript(protect) + (this.screened === null ? '' : screenScript(this.screened)));
      });
    } else this.sets = await this.resolveSets();
    this.batches.prime();
  }

  async check(protect: readonly PortSpec[]): Promise<string> {
    if (!this.own) {
      const sets = await this.resolveSets();
      return `nftables: ${Object.entries(sets)
        .map(([f, s]) => `IPv${f} grants go to set ${formatNftSetRef(s)}`)
        .join('; ')}`;
    }
    // --check sends the transaction to the kernel and aborts it: access and conflicts are checked, nothing changes.
    await runTool([NFT, '--check', '-f', '-'], ownTableScript(protect));
    return `nftables: table ${OWN_TABLE} can be set up (input chain at priority ${CHAIN_PRIORITY}, drops ${describeProtected(protect)} unless granted)`;
  }

  async apply(changes: readonly Change[]): Promise<ApplyFailure[]> {
    const failures: ApplyFailure[] = [];
    const batch: { set: NftSetRef; change: Change }[] = [];
    const setless: Change[] = [];
    for (const change of changes) {
      const rule = change.after ?? change.before;
      const set = rule === undefined ? undefined : this.sets[rule.family];
      if (set === undefined) setless.push(change);
      else batch.push({ set, change });
    }
    if (setless.length > 0)
      failures.push({
        changes: setless,
        error: new FirewallError([], 'no nft_set of this address family (IPv4 or IPv6) is configured', null),
      });
    const script = changesScript(batch, this.now());
    failures.push(
      ...(await applyAtomically(
        batch.map((b) => b.change),
        () => this.batches.run(script),
      )),
    );
    return failures;
  }

  async list(): Promise<Entry[]> {
    if (!this.own && Object.keys(this.sets).length === 0) this.sets = await this.resolveSets();
    const entries: Entry[] = [];
    for (const [family, set] of Object.entries(this.sets)) {
      const argv = [NFT, '-j', 'list', 'set', set.family, set.table, set.set];
      const { stdout } = await runTool(argv);
      const listed = parseListedSet(stdout);
      if (listed === null) throw new FirewallError(argv, `unreadable output: ${stdout.slice(0, 200)}`, null);
      entries.push(...listedEntries(listed, Number(family) as 4 | 6, this.now()));
    }
    return entries;
  }

  async detach(): Promise<void> {
    // The table stays: it is what keeps the ports closed while the daemon is down. The screen goes:
    // its key ids are the running daemon's.
    if (this.own) await runTool([NFT, '-f', '-'], removeScreenScript());
    this.screened = null;
  }

  async screen(screen: KernelScreen | null): Promise<void> {
    if (!this.own) return;
    // First: a sweep's setup() from now on puts back this screen, not the one it replaces.
    this.screened = screen;
    await this.screenTurn.run(() => runTool([NFT, '-f', '-'], this.screened === null ? removeScreenScript() : screenScript(this.screened)));
  }

  async screenCounters(): Promise<ScreenCounters | null> {
    if (!this.own) return null;
    const listed = await runTool([NFT, '-j', 'list', 'counters', 'table', ...OWN_TABLE.split(' ')]).catch(noTable);
    return listed === null ? null : parseScreenCounters(listed.stdout);
  }

  async screenKeyIds(): Promise<string[] | null> {
    if (!this.own) return null;
    const listed = await runTool([NFT, 'list', 'set', ...OWN_TABLE.split(' '), KEY_ID_SET]).catch(noTable);
    return listed === null ? null : parseKeyIdSet(listed.stdout, KEY_ID_SIZE);
  }

  release(): void {
    this.batches.release();
  }

  private async hasOwnTable(): Promise<boolean> {
    const present = await runTool([NFT, 'list', 'tables']);
    return present.stdout.split('\n').some((l) => l.trim() === `table ${OWN_TABLE}`);
  }

  /** A table that was there before keeps protecting its ports; one this start made goes. */
  async undoSetup(): Promise<void> {
    if (this.made) await runTool([NFT, 'delete', 'table', ...OWN_TABLE.split(' ')]);
    this.made = false;
  }

  async remove(): Promise<string> {
    if (this.own) {
      if (!(await this.hasOwnTable())) return `nftables: no table ${OWN_TABLE}, nothing to remove`;
      await runTool([NFT, 'delete', 'table', ...OWN_TABLE.split(' ')]);
      return `nftables: deleted table ${OWN_TABLE} (its grants and the protection of its ports)`;
    }
    this.sets = await this.resolveSets();
    const mine = await this.list();
    const [failure] = await this.apply(mine.map((before) => ({ before, after: undefined })));
    if (failure !== undefined) throw failure.error;
    return `nftables: removed ${mine.length} knockspa element(s) from ${this.description}; the sets themselves are yours`;
  }

  /** Reads the admin's sets and decides which takes IPv4 and which IPv6; SetupError if one does not fit. */
  private async resolveSets(): Promise<Partial<Record<4 | 6, NftSetRef>>> {
    const sets: Partial<Record<4 | 6, NftSetRef>> = {};
    for (const ref of this.opts.sets) {
      const argv = [NFT, '-j', 'list', 'set', ref.family, ref.table, ref.set];
      let stdout: string;
      try {
        ({ stdout } = await runTool(argv));
      } catch (err) {
        if (!(err instanceof FirewallError) || err.exitCode !== 1) throw err;
        throw new SetupError(
          'nft_set',
          `an existing set; "${formatNftSetRef(ref)}": ${err.stderr.trim().split('\n')[0] ?? ''} (declare it in your ruleset first; see docs/operations.md)`,
        );
      }
      const listed = parseListedSet(stdout);
      const family = listed === null ? 'unreadable `nft -j list set` output' : setFamily(listed);
      if (typeof family === 'string') throw new SetupError('nft_set', `set "${formatNftSetRef(ref)}" has ${family}`);
      if (ref.family !== 'inet' && ref.family !== (family === 4 ? 'ip' : 'ip6'))
        throw new SetupError('nft_set', `set "${formatNftSetRef(ref)}" holds IPv${family} addresses in a table of family ${ref.family}`);
      if (sets[family] !== undefined) throw new SetupError('nft_set', `one set per address family; two hold IPv${family} addresses`);
      sets[family] = ref;
    }
    return sets;
  }
}

/** A listing of what is not there (nft exits 1): null; other failures are thrown. */
function noTable(err: unknown): null {
  if (err instanceof FirewallError && err.exitCode === 1) return null;
  throw err;
}

/** `nft_set`: one set, or two (one per address family). */
function readSets(r: TableReader): NftSetRef[] {
  const raw = r.value('nft_set');
  if (raw === undefined) return [];
  const items = typeof raw === 'string' ? [raw] : raw;
  const expected = 'an nftables set as "FAMILY TABLE SET" (e.g. "inet filter knockspa"), or an array of two (one for IPv4, one for IPv6)';
  if (!Array.isArray(items) || items.length === 0 || items.length > 2) r.fail('nft_set', expected);
  const sets = items.map((item: unknown) => {
    const ref = typeof item === 'string' ? parseNftSetRef(item) : null;
    return ref ?? r.fail('nft_set', expected, item);
  });
  const [first] = sets;
  if (first !== undefined && sets.length === 2 && sets.every((s) => s.family === first.family && s.family !== 'inet'))
    r.refuse('nft_set', `one set per address family, got two "${first.family}" sets`);
  return sets;
}

/** `protect`: more ports for knockspa's own table to drop; with the admin's sets their ruleset drops. */
function readProtect(r: TableReader, settings: NftablesOptions): PortSpec[] {
  if (settings.sets.length > 0 && r.value('protect') !== undefined)
    r.refuse('protect', 'not with nft_set: your own ruleset drops the ports; knockspa only fills the set');
  return r.ports('protect', false) ?? [];
}

/**
 * `firewall = "nftables"`: knockspa's own table (`protect` adds ports to drop), or the admin's
 * sets (`nft_set`). Elements time out in the kernel and are gone after a reboot.
 */
export const nftablesBackend = defineBackend<NftablesOptions>({
  name: 'nftables',
  keys: ['protect', 'nft_set'],
  read: (r) => ({ sets: readSets(r) }),
  readProtect,
  capabilities: (settings) => ({
    lists: true,
    outlivesReboot: false,
    protectsPorts: settings.sets.length === 0,
    opensPorts: true,
    // The screen lives in knockspa's own table; with the admin's sets knockspa makes no chains.
    screensSpaPort: settings.sets.length === 0,
  }),
  make: (settings) => new NftablesFirewall(settings),
});
