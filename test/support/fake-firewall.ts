// A recording Firewall for unit tests of the grant lifecycle (the e2e tests use the real tools).
import type { ApplyFailure, Change, Entry, Firewall } from '../../src/server/firewall/firewall.js';
import { FirewallError, ruleKey } from '../../src/server/firewall/firewall.js';

export class FakeFirewall implements Firewall {
  readonly name = 'fake';
  readonly description = 'fake';
  /** Every change applied (or attempted), as "add|update|remove IP PROTO/PORT". */
  readonly calls: string[] = [];
  /** What the "kernel" holds, by rule. */
  readonly entries = new Map<string, Entry>();
  failOpen = false;
  failClose = false;
  /** Like a table deleted underneath: every apply fails until setup() runs. */
  broken = false;
  /** false: list() cannot see the firewall (like the command backend). */
  listable = true;
  setups = 0;
  /** Most apply calls in flight at once: the daemon must keep this at 1. */
  maxInFlight = 0;
  /** Changes per apply call, in order. */
  readonly batches: number[] = [];
  private inFlight = 0;

  /** The rules held, as "IP PROTO/PORT". */
  get rules(): Set<string> {
    return new Set(this.entries.keys());
  }

  /** Puts an entry in directly (as a previous daemon run would have). */
  put(entry: Entry): void {
    this.entries.set(ruleKey(entry), entry);
  }

  async setup(): Promise<void> {
    this.setups++;
    this.broken = false;
  }

  async check(): Promise<string> {
    return 'fake';
  }

  async apply(changes: readonly Change[]): Promise<ApplyFailure[]> {
    if (changes.length === 0) return [];
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.batches.push(changes.length);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    const failures: ApplyFailure[] = [];
    for (const change of changes) {
      const { before, after } = change;
      const entry = (after ?? before) as Entry;
      const op = before === undefined ? 'add' : after === undefined ? 'remove' : 'update';
      this.calls.push(`${op} ${ruleKey(entry)}`);
      const fail = this.broken || (op === 'add' && this.failOpen) || (op === 'remove' && this.failClose);
      if (fail) failures.push({ changes: [change], error: new FirewallError(['fake', op], `fake ${op} failure`, 1) });
      else if (after === undefined) this.entries.delete(ruleKey(entry));
      else this.entries.set(ruleKey(entry), after);
    }
    return failures;
  }

  async list(): Promise<Entry[] | null> {
    return this.listable ? [...this.entries.values()] : null;
  }

  async detach(): Promise<void> {}

  release(): void {}

  async remove(): Promise<string> {
    this.entries.clear();
    return 'fake: removed';
  }
}
