/**
 * The one place where grants take effect. Events (a knock's opens or closes, deadlines, shutdown)
 * queue up; those that arrive while the firewall is busy go together as one batch. For a batch:
 * plan it (grant-book.ts, pure), save the state, hand the changes to the firewall, write the
 * knock's log line, then, once the firewall answered, log what opened and closed and arm the
 * deadline timers. Nothing calls back: the pipeline submits and is done.
 *
 * A grant counts as open only after the firewall said yes, and it is saved before its entry goes
 * in (write-ahead), so a crash cannot orphan it. A knock whose state cannot be saved is refused:
 * its replay entry would not survive a restart. When a tool call fails, the backend is set up
 * again (a table or chain deleted underneath comes back), compared with what the firewall really
 * holds, and every difference put right; the same comparison runs at start and periodically.
 * @module
 */
import type { Logger } from 'pino';
import type { PortSpec } from '../../protocol/ports.js';
import { changedRule, ruleKey, type ApplyFailure, type Entry, type Firewall } from '../firewall/firewall.js';
import { asGrant, grantKey, GrantBook, type BookEvent, type CloseReason, type Grant, type Plan, type Step } from './grant-book.js';
import { logClose, logFailures, logOpen, logPutBack, logToolError } from './grant-log.js';
import { Serial } from './serial.js';

export type { BookEvent, CloseReason, Grant, GrantRequest } from './grant-book.js';

const CLOSE_RETRY_MS = 5_000;
/** A grant this close to its deadline is not put back when missing: the kernel may have expired it already. */
const EXPIRY_GRACE_MS = 2_000;
/** setTimeout's longest wait; a later deadline is reached in steps (an expiry that finds it not due re-arms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ApplierOptions {
  readonly firewall: Firewall;
  readonly log: Logger;
  readonly now: () => number;
  /** Writes the state file with these grants (and the replay cache); throws or rejects if it cannot. */
  readonly save: (grants: readonly Grant[]) => void | Promise<void>;
  /** Ports the backend drops unless granted (nftables' own table). */
  readonly protect?: readonly PortSpec[];
  /** Compare the firewall with the grants this often, once restored; never if undefined. */
  readonly sweepEveryMs?: number;
  /**
   * A group's stream ([cluster], grants = "everywhere"): a shared job's events, once its batch is
   * with the firewall (state saved), with what each is to do. The others need not wait for this
   * firewall's answer; a knock refused because the state could not be saved is never shared.
   */
  readonly share?: (events: readonly BookEvent[], taking: readonly boolean[]) => void;
}

interface Job {
  readonly events: readonly BookEvent[];
  /** A knock's log line: the knock's events are refused if the state cannot be saved. */
  readonly knock: Record<string, unknown> | undefined;
  /** Per event: true if it took effect (an open went in, a close came out). */
  readonly done: (results: boolean[]) => void;
  /** Handed to `share` once its batch is with the firewall (a knock's events, in a group). */
  readonly shared: boolean;
}

function failedRules(failures: readonly ApplyFailure[]): Set<string> {
  return new Set(failures.flatMap((f) => f.changes.map((c) => ruleKey(changedRule(c)))));
}

export class Applier {
  private readonly book = new GrantBook();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly queue = new Serial();
  private pending: Job[] = [];
  private flushQueued = false;
  private protect: readonly PortSpec[];
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: ApplierOptions) {
    this.protect = opts.protect ?? [];
  }

  get size(): number {
    return this.book.size;
  }

  grants(): Grant[] {
    return this.book.all();
  }

  /** Resolves when every queued firewall operation has finished. */
  settled(): Promise<void> {
    return this.queue.idle();
  }

  /**
   * Queues events (with `knock`, a knock's: logged as accepted once its batch is with the
   * firewall); resolves, per event, whether it took effect. `shared`: handed to the group's
   * stream at that same moment (options.share).
   */
  submit(events: readonly BookEvent[], knock?: Record<string, unknown>, shared = false): Promise<boolean[]> {
    return new Promise((done) => {
      this.pending.push({ events, knock, done, shared });
      if (this.flushQueued) return;
      this.flushQueued = true;
      void this.queue.run(async () => {
        this.flushQueued = false;
        await this.process(this.pending.splice(0));
      });
    });
  }

  /** Closes, in one batch, every grant `keep` refuses (after a reload, or an admin's close); resolves with those closed. */
  async revoke(keep: (grant: Grant) => boolean, why: CloseReason = 'revoked'): Promise<Grant[]> {
    const gone = this.book.all().filter((grant) => !keep(grant));
    if (gone.length === 0) return [];
    const done = await this.submit(gone.map((grant) => ({ kind: 'close', grant, why })));
    return gone.filter((_, i) => done[i] === true);
  }

  /** Closes every grant (shutdown) in one batch. Later opens are refused. */
  closeAll(why: CloseReason): Promise<void> {
    return this.queue.run(async () => {
      this.stopped = true;
      if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
      const events = this.book.all().map((grant): BookEvent => ({ kind: 'close', grant, why }));
      await this.process([{ events, knock: undefined, done: () => {}, shared: false }]);
    });
  }

  /**
   * After a restart: takes the saved grants still live, closes those past their deadline, and
   * squares the firewall with them (entries of a lost state file are adopted until their deadline,
   * missing ones put back). Records and entries are input: only those `allowed` accepts (the
   * config's users, ports and durations) are taken; the others are refused and logged, and their
   * entries taken out. Then starts the periodic sweep.
   */
  restore(records: readonly Grant[], allowed: (grant: Grant) => boolean = () => true): Promise<void> {
    return this.queue.run(async () => {
      const now = this.opts.now();
      const expired = records.filter((r) => r.deadlineMs <= now);
      const refused = new Set<string>();
      for (const r of records) {
        if (r.deadlineMs <= now) continue;
        if (allowed(r)) this.book.put(asGrant(r));
        else if (!refused.has(grantKey(r))) {
          refused.add(grantKey(r));
          this.refuseRecord(r, 'state file');
        }
      }
      const adoptable = (entry: Entry): boolean => {
        if (allowed(entry)) return true;
        if (!refused.has(grantKey(entry))) this.refuseRecord(entry, 'firewall');
        return false;
      };
      const listing = await this.listing();
      if (listing === null) await this.closeExpiredBlind(expired);
      else await this.reconcile(listing, expired, true, adoptable);
      for (const grant of this.book.all()) {
        this.arm(grant);
        logOpen(this.opts.log, grant, 'restored');
      }
      await this.saveState();
      this.scheduleSweep();
    });
  }

  /** Compares the firewall with the grants and puts right what differs (also run periodically). */
  sweep(): Promise<void> {
    return this.queue.run(async () => {
      if (this.stopped || !(await this.setup())) return;
      const listing = await this.listing();
      if (listing !== null) await this.reconcile(listing, [], false);
    });
  }

  /** New ports to protect (a reload changed the users' ports); applied at once. */
  setProtected(protect: readonly PortSpec[]): Promise<void> {
    this.protect = protect;
    return this.queue.run(async () => void (await this.setup()));
  }

  // -- a batch --------------------------------------------------------------------------------

  private async process(batch: readonly Job[]): Promise<void> {
    const now = this.opts.now();
    let jobs = batch;
    let plan = this.book.plan(
      jobs.flatMap((j) => j.events),
      now,
      this.stopped,
    );
    // Write-ahead, once per batch: before any entry goes in, and before a knock takes effect (its replay entry).
    if (jobs.some((j) => j.knock !== undefined) || plan.changes.some((c) => c.after !== undefined)) {
      try {
        await this.opts.save(this.book.recordsFor(plan));
      } catch (err) {
        jobs = this.refuseKnocks(jobs, err);
        plan = this.book.plan(
          jobs.flatMap((j) => j.events),
          now,
          this.stopped,
        );
      }
    }
    this.book.commit(plan);
    const applying = plan.changes.length === 0 ? Promise.resolve([]) : this.opts.firewall.apply(plan.changes);
    // The log line once the batch is with the tool (a synchronous write would hold the rule back), not after it answers.
    for (const job of jobs) if (job.knock !== undefined) this.opts.log.info(job.knock, 'knock accepted');
    let at = 0;
    for (const job of jobs) {
      const steps = plan.steps.slice(at, (at += job.events.length));
      if (job.shared)
        this.opts.share?.(
          job.events,
          steps.map((step) => step.kind !== 'none' || !step.refused),
        );
    }
    const failed = await this.repair(await applying, plan);
    this.book.revert(plan, failed);
    let i = 0;
    for (const job of jobs) job.done(job.events.map(() => this.settle(plan.steps[i++] as Step, failed)));
    if (plan.changes.length > 0) await this.saveState();
  }

  /** The state could not be saved: the batch's knocks are refused (fail closed), the rest still runs. */
  private refuseKnocks(jobs: readonly Job[], err: unknown): Job[] {
    for (const job of jobs) {
      if (job.knock === undefined) continue;
      this.opts.log.error({ ...job.knock, event: 'state-error', error: String(err) }, 'cannot save state; knock refused');
      job.done(job.events.map(() => false));
    }
    return jobs.filter((j) => j.knock === undefined);
  }

  /** After the firewall answered: what one event came to. */
  private settle(step: Step, failed: ReadonlySet<string>): boolean {
    if (step.kind === 'none') return !step.refused;
    const ok = !failed.has(ruleKey(step.grant));
    if (step.kind === 'kept') this.arm(step.grant);
    else if (step.kind === 'opened' && ok) {
      this.arm(step.grant);
      logOpen(this.opts.log, step.grant, step.extended ? 'extended' : 'new');
    } else if (step.kind === 'closed') {
      if (ok) this.forget(step.grant, step.why);
      else if (!this.stopped) this.retryClose(step.grant, step.why);
    }
    return ok;
  }

  /**
   * After failures: sets the backend up again and retries against what the firewall really holds
   * (which also puts back other grants a deleted table took with it). Returns the rules that are
   * still not as wanted.
   */
  private async repair(failures: readonly ApplyFailure[], plan: Plan): Promise<Set<string>> {
    if (failures.length === 0) return new Set();
    logFailures(this.opts.log, failures);
    if (!(await this.setup())) return failedRules(failures);
    const listing = await this.listing();
    if (listing === null) {
      const again = await this.opts.firewall.apply(failures.flatMap((f) => f.changes));
      logFailures(this.opts.log, again);
      return failedRules(again);
    }
    const inBatch = (e: Entry): boolean => plan.rules.has(ruleKey(e));
    const diff = this.book.planListing(listing, this.opts.now(), false, 0);
    const again = await this.opts.firewall.apply(diff.changes);
    logFailures(this.opts.log, again);
    const failed = failedRules(again);
    const ok = (e: Entry): boolean => !inBatch(e) && !failed.has(ruleKey(e));
    for (const entry of diff.stale.filter(ok)) logClose(this.opts.log, entry, 'stale');
    logPutBack(this.opts.log, diff.missing.filter(ok));
    return failed;
  }

  /**
   * Makes the firewall hold what the book wants. `expired`: grants found past their deadline at
   * start, logged closed once their entries are out.
   */
  private async reconcile(
    listing: readonly Entry[],
    expired: readonly Grant[],
    atStart: boolean,
    adoptable?: (entry: Entry) => boolean,
  ): Promise<void> {
    const now = this.opts.now();
    const plan = this.book.planListing(listing, now, atStart, EXPIRY_GRACE_MS, adoptable);
    for (const grant of plan.adopted) this.book.put(grant);
    const failures = await this.opts.firewall.apply(plan.changes);
    logFailures(this.opts.log, failures);
    const failed = failedRules(failures);
    const expiredKeys = new Set(expired.map(grantKey));
    for (const record of expired) if (!failed.has(ruleKey(record))) logClose(this.opts.log, record, 'expired-while-down');
    for (const entry of plan.stale) {
      if (expiredKeys.has(grantKey(entry)) || failed.has(ruleKey(entry))) continue;
      logClose(this.opts.log, entry, atStart && entry.deadlineMs <= now ? 'expired-while-down' : 'stale');
    }
    if (!atStart)
      logPutBack(
        this.opts.log,
        plan.missing.filter((e) => !failed.has(ruleKey(e))),
      );
    // Not in the kernel and cannot be put back: not open, so it must not count as open.
    for (const entry of plan.missing) {
      if (!failed.has(ruleKey(entry))) continue;
      for (const grant of this.book.all().filter((g) => ruleKey(g) === ruleKey(entry))) this.forget(grant, 'lost');
    }
  }

  /** Start without a view of the firewall (command backend): trust the records, close the expired. */
  private async closeExpiredBlind(expired: readonly Grant[]): Promise<void> {
    const changes = expired.filter((r) => this.book.entry(ruleKey(r)) === undefined).map((r) => ({ before: asGrant(r), after: undefined }));
    const failures = await this.opts.firewall.apply(changes);
    logFailures(this.opts.log, failures);
    const failed = failedRules(failures);
    for (const record of expired) {
      if (failed.has(ruleKey(record))) {
        this.book.put(asGrant(record));
        this.retryClose(asGrant(record), 'expired-while-down');
      } else logClose(this.opts.log, record, 'expired-while-down');
    }
  }

  // -- side effects ---------------------------------------------------------------------------

  private refuseRecord(g: Grant, from: 'state file' | 'firewall'): void {
    const { user, ip, proto, port, deadlineMs } = g;
    this.opts.log.warn(
      { event: 'grant-refused', from, user, ip, proto, port, deadline: new Date(deadlineMs).toISOString() },
      'a saved grant the config does not allow; not restored',
    );
  }

  /** Saves the state now (start, stop, after a batch); a failure is logged, not thrown. */
  async saveState(): Promise<void> {
    try {
      await this.opts.save(this.book.recordsFor(undefined));
    } catch (err) {
      this.opts.log.error({ event: 'state-error', error: String(err) }, 'cannot write state');
    }
  }

  private async setup(): Promise<boolean> {
    try {
      await this.opts.firewall.setup(this.protect);
      return true;
    } catch (err) {
      logToolError(this.opts.log, 'setup', err);
      return false;
    }
  }

  /** What the firewall holds, or null if it cannot tell or the listing failed (logged). */
  private async listing(): Promise<Entry[] | null> {
    try {
      return await this.opts.firewall.list();
    } catch (err) {
      logToolError(this.opts.log, 'list', err);
      return null;
    }
  }

  private scheduleSweep(): void {
    const every = this.opts.sweepEveryMs;
    if (every === undefined || this.stopped) return;
    this.sweepTimer = setTimeout(() => void this.sweep().finally(() => this.scheduleSweep()), every);
  }

  private setTimer(grant: Grant, ms: number, fire: () => void): void {
    const key = grantKey(grant);
    const old = this.timers.get(key);
    if (old !== undefined) clearTimeout(old);
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        fire();
      }, ms),
    );
  }

  private arm(grant: Grant): void {
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, grant.deadlineMs - this.opts.now()));
    this.setTimer(grant, wait, () => void this.submit([{ kind: 'expire', grant }]));
  }

  /** Keeps a grant whose entry could not be taken out, and tries again later. */
  private retryClose(grant: Grant, why: CloseReason): void {
    this.setTimer(grant, CLOSE_RETRY_MS, () => void this.submit([{ kind: 'close', grant, why }]));
  }

  /** The grant is out of the firewall: drop it and say so. */
  private forget(grant: Grant, why: CloseReason): void {
    const key = grantKey(grant);
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.book.delete(grant);
    logClose(this.opts.log, grant, why);
  }
}
