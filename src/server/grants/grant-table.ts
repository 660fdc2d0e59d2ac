/**
 * The live grants, indexed by the rule they need: several users may hold a grant on the same
 * address and port, and the firewall then holds one entry for them all, until the latest deadline.
 * Pure bookkeeping: what the firewall should hold, and how that differs from what it holds.
 * @module
 */
import type { Proto } from '../../protocol/ports.js';
import { ruleKey, type Change, type Entry } from '../firewall/firewall.js';

export interface GrantRequest {
  readonly user: string;
  readonly ip: string;
  readonly family: 4 | 6;
  readonly proto: Proto;
  readonly port: number;
}

/** One user's grant on one rule. Immutable: an extension is a new Grant. */
export interface Grant extends GrantRequest {
  readonly deadlineMs: number;
}

/** Deadlines closer than this are the same (iptables comments keep whole seconds; nft lists whole seconds). */
export const DEADLINE_SLACK_MS = 2_000;

export function grantKey(g: GrantRequest): string {
  return `${g.user} ${ruleKey(g)}`;
}

export function asGrant(g: Grant): Grant {
  const { user, ip, family, proto, port, deadlineMs } = g;
  return { user, ip, family, proto, port, deadlineMs };
}

/** What the firewall must hold for these holders of one rule: the latest deadline wins. */
export function effective(holders: ReadonlyMap<string, Grant> | undefined): Entry | undefined {
  let best: Grant | undefined;
  for (const g of holders?.values() ?? []) if (best === undefined || g.deadlineMs > best.deadlineMs) best = g;
  return best === undefined ? undefined : asGrant(best);
}

export function sameEntry(a: Entry | undefined, b: Entry | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.user === b.user && Math.abs(a.deadlineMs - b.deadlineMs) < DEADLINE_SLACK_MS;
}

export class GrantTable {
  private readonly byRule = new Map<string, Map<string, Grant>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(req: GrantRequest): Grant | undefined {
    return this.byRule.get(ruleKey(req))?.get(req.user);
  }

  all(): Grant[] {
    return [...this.byRule.values()].flatMap((holders) => [...holders.values()]);
  }

  /** Adds or replaces the user's grant on its rule. */
  put(grant: Grant): void {
    const key = ruleKey(grant);
    let holders = this.byRule.get(key);
    if (holders === undefined) this.byRule.set(key, (holders = new Map()));
    if (!holders.has(grant.user)) this.count++;
    holders.set(grant.user, grant);
  }

  delete(req: GrantRequest): void {
    const key = ruleKey(req);
    const holders = this.byRule.get(key);
    if (holders?.delete(req.user) !== true) return;
    this.count--;
    if (holders.size === 0) this.byRule.delete(key);
  }

  /** A copy of one rule's holders, to put back with {@link restoreRule}. */
  holders(key: string): Map<string, Grant> | undefined {
    const h = this.byRule.get(key);
    return h === undefined ? undefined : new Map(h);
  }

  restoreRule(key: string, holders: Map<string, Grant> | undefined): void {
    for (const g of this.byRule.get(key)?.values() ?? []) this.delete(g);
    for (const g of holders?.values() ?? []) this.put(g);
  }

  entry(key: string): Entry | undefined {
    return effective(this.byRule.get(key));
  }

  ruleKeys(): string[] {
    return [...this.byRule.keys()];
  }
}

/** What to change so the firewall, holding `actual`, holds what `table` wants; `graceMs` spares grants about to expire. */
export function diffWithFirewall(table: GrantTable, actual: readonly Entry[], nowMs: number, graceMs: number): { changes: Change[]; missing: Entry[]; stale: Entry[] } {
  const kernel = new Map<string, Entry>();
  const changes: Change[] = [];
  const stale: Entry[] = [];
  const missing: Entry[] = [];
  for (const entry of actual) {
    const key = ruleKey(entry);
    if (kernel.has(key) || table.entry(key) === undefined) {
      // A duplicate, or nobody's grant: out it goes.
      changes.push({ before: entry, after: undefined });
      stale.push(entry);
    } else {
      kernel.set(key, entry);
    }
  }
  for (const key of table.ruleKeys()) {
    const want = table.entry(key) as Entry;
    const have = kernel.get(key);
    if (have === undefined) {
      // The kernel may have expired it a moment early; the daemon's own timer closes it.
      if (want.deadlineMs - nowMs <= graceMs) continue;
      changes.push({ before: undefined, after: want });
      missing.push(want);
    } else if (!sameEntry(have, want)) {
      changes.push({ before: have, after: want });
    }
  }
  return { changes, missing, stale };
}
