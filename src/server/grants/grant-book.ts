/**
 * The grant book: who holds which grant until when, and what the firewall must change for an
 * event. Planning is pure: {@link GrantBook.plan} and {@link GrantBook.planListing} take events or
 * a firewall listing and `now`, and return the changes to make and what each event came to; they
 * change nothing. The applier (applier.ts) makes the changes and then tells the book which rules
 * went in ({@link GrantBook.commit}). No firewall, disk, timer or log here.
 *
 * Several users may hold a grant on the same address and port: the firewall then holds one entry
 * for them all, until the latest deadline, owned by the user whose deadline that is.
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

/**
 * knock, timeout, shutdown: as asked. expired-while-down: found past its deadline at start.
 * stale: in the firewall with no grant behind it. lost: gone from the firewall and could not be put back.
 * revoked: a reload took away its user, the user's keys, or its port. admin: `knockspa grants close`.
 */
export type CloseReason = 'knock' | 'timeout' | 'shutdown' | 'expired-while-down' | 'stale' | 'lost' | 'revoked' | 'admin';

export type BookEvent =
  /** deadlineMs: a deadline given elsewhere (a grant shared by another gateway); else now + durationSec. */
  | { readonly kind: 'open'; readonly grant: GrantRequest; readonly durationSec: number; readonly deadlineMs?: number }
  | { readonly kind: 'close'; readonly grant: GrantRequest; readonly why: CloseReason }
  /** A deadline timer fired: closes unless the grant was extended meanwhile. */
  | { readonly kind: 'expire'; readonly grant: GrantRequest };

/** What one event comes to, if its rule goes in. */
export type Step =
  | { readonly kind: 'opened'; readonly grant: Grant; readonly extended: boolean }
  | { readonly kind: 'closed'; readonly grant: Grant; readonly why: CloseReason }
  /** Still open (an expiry that found the grant extended): its timer is re-armed. */
  | { readonly kind: 'kept'; readonly grant: Grant }
  /** Nothing to do (a close for a grant not open), or refused (an open after shutdown). */
  | { readonly kind: 'none'; readonly refused: boolean };

type Holders = ReadonlyMap<string, Grant>;

export interface Plan {
  /** Firewall changes, one per rule whose entry changes. */
  readonly changes: readonly Change[];
  /** One step per event, in order. */
  readonly steps: readonly Step[];
  /** Each touched rule's holders before and after. */
  readonly rules: ReadonlyMap<string, { readonly before: Holders | undefined; readonly after: Holders | undefined }>;
}

export interface ListingPlan {
  readonly changes: readonly Change[];
  /** Live entries with no grant, taken on as grants (only at start: a lost state file). */
  readonly adopted: readonly Grant[];
  /** Wanted but not in the firewall: put back. */
  readonly missing: readonly Entry[];
  /** In the firewall with nobody's grant behind it (or duplicates): taken out. */
  readonly stale: readonly Entry[];
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
export function effective(holders: Holders | undefined): Entry | undefined {
  let best: Grant | undefined;
  for (const g of holders?.values() ?? []) if (best === undefined || g.deadlineMs > best.deadlineMs) best = g;
  return best === undefined ? undefined : asGrant(best);
}

export function sameEntry(a: Entry | undefined, b: Entry | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.user === b.user && Math.abs(a.deadlineMs - b.deadlineMs) < DEADLINE_SLACK_MS;
}

export class GrantBook {
  private readonly byRule = new Map<string, Holders>();
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

  /** What the firewall should hold for one rule. */
  entry(key: string): Entry | undefined {
    return effective(this.byRule.get(key));
  }

  /**
   * The changes `events` need at `now`, and what each comes to. Events are taken in order, each
   * seeing the ones before it. With `refuseOpens` (after shutdown) opens come to nothing.
   */
  plan(events: readonly BookEvent[], nowMs: number, refuseOpens = false): Plan {
    const work = new Map<string, Map<string, Grant>>();
    const before = new Map<string, Holders | undefined>();
    const holdersOf = (key: string): Map<string, Grant> => {
      let h = work.get(key);
      if (h === undefined) {
        const current = this.byRule.get(key);
        before.set(key, current);
        work.set(key, (h = new Map(current)));
      }
      return h;
    };
    const steps: Step[] = events.map((event): Step => {
      const holders = holdersOf(ruleKey(event.grant));
      const prev = holders.get(event.grant.user);
      if (event.kind === 'open') {
        if (refuseOpens) return { kind: 'none', refused: true };
        const grant = asGrant({
          ...event.grant,
          deadlineMs: Math.max(prev?.deadlineMs ?? 0, event.deadlineMs ?? nowMs + event.durationSec * 1000),
        });
        holders.set(grant.user, grant);
        return { kind: 'opened', grant, extended: prev !== undefined };
      }
      if (prev === undefined) return { kind: 'none', refused: false };
      if (event.kind === 'expire' && prev.deadlineMs > nowMs) return { kind: 'kept', grant: prev };
      holders.delete(prev.user);
      return { kind: 'closed', grant: prev, why: event.kind === 'close' ? event.why : 'timeout' };
    });
    const changes: Change[] = [];
    const rules = new Map<string, { before: Holders | undefined; after: Holders | undefined }>();
    for (const [key, after] of work) {
      const was = effective(before.get(key));
      const is = effective(after);
      const same = was === undefined || is === undefined ? was === is : was.user === is.user && was.deadlineMs === is.deadlineMs;
      if (!same) changes.push({ before: was, after: is });
      rules.set(key, { before: before.get(key), after: after.size === 0 ? undefined : after });
    }
    return { changes, steps, rules };
  }

  /**
   * What to change so the firewall, holding `listing`, holds what the book wants. `atStart`:
   * live entries with no grant are adopted (a lost state file) instead of taken out. `graceMs`
   * spares grants about to expire (the kernel may have expired them a moment early). Only entries
   * `adoptable` accepts are adopted (the same check as a knock's: an entry is input too).
   */
  planListing(
    listing: readonly Entry[],
    nowMs: number,
    atStart: boolean,
    graceMs: number,
    adoptable: (entry: Entry) => boolean = () => true,
  ): ListingPlan {
    const adopted = new Map<string, Grant>();
    if (atStart) {
      for (const entry of listing) {
        const key = ruleKey(entry);
        if (entry.deadlineMs > nowMs && this.entry(key) === undefined && !adopted.has(key) && adoptable(entry))
          adopted.set(key, asGrant(entry));
      }
    }
    const want = (key: string): Entry | undefined => this.entry(key) ?? adopted.get(key);
    const kernel = new Map<string, Entry>();
    const changes: Change[] = [];
    const stale: Entry[] = [];
    const missing: Entry[] = [];
    for (const entry of listing) {
      const key = ruleKey(entry);
      if (kernel.has(key) || want(key) === undefined) {
        changes.push({ before: entry, after: undefined });
        stale.push(entry);
      } else {
        kernel.set(key, entry);
      }
    }
    for (const key of this.byRule.keys()) {
      const wanted = this.entry(key) as Entry;
      const have = kernel.get(key);
      if (have === undefined) {
        if (wanted.deadlineMs - nowMs <= graceMs) continue;
        changes.push({ before: undefined, after: wanted });
        missing.push(wanted);
      } else if (!sameEntry(have, wanted)) {
        changes.push({ before: have, after: wanted });
      }
    }
    return { changes, adopted: [...adopted.values()], missing, stale };
  }

  /** The plan's rules as they will be if it goes in: the applier calls this before the firewall runs. */
  commit(plan: Plan): void {
    for (const [key, { after }] of plan.rules) this.setRule(key, after);
  }

  /** Puts back the holders of rules that did not go in. */
  revert(plan: Plan, failed: ReadonlySet<string>): void {
    for (const key of failed) {
      const rule = plan.rules.get(key);
      if (rule !== undefined) this.setRule(key, rule.before);
    }
  }

  /** Adds or replaces one grant (adoption, restore, a close to try again). */
  put(grant: Grant): void {
    const key = ruleKey(grant);
    const holders = new Map(this.byRule.get(key));
    holders.set(grant.user, grant);
    this.setRule(key, holders);
  }

  delete(req: GrantRequest): void {
    const key = ruleKey(req);
    const holders = new Map(this.byRule.get(key));
    if (holders.delete(req.user)) this.setRule(key, holders.size === 0 ? undefined : holders);
  }

  /**
   * What must be on disk before `plan` goes in: every grant now, and for the rules it touches both
   * the old and the new holders (a grant being closed stays recorded until its entry is out).
   */
  recordsFor(plan: Plan | undefined): Grant[] {
    if (plan === undefined) return this.all();
    const records: Grant[] = [];
    for (const [key, holders] of this.byRule) if (!plan.rules.has(key)) records.push(...holders.values());
    for (const { before, after } of plan.rules.values()) {
      const union = new Map(before);
      for (const [user, g] of after ?? []) union.set(user, g);
      records.push(...union.values());
    }
    return records;
  }

  private setRule(key: string, holders: Holders | undefined): void {
    this.count -= this.byRule.get(key)?.size ?? 0;
    if (holders === undefined || holders.size === 0) this.byRule.delete(key);
    else {
      this.byRule.set(key, holders);
      this.count += holders.size;
    }
  }
}
