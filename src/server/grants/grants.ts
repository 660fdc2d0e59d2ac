/**
 * Open grants and their lifecycle: open (or extend), close on knock, on deadline, on shutdown,
 * and after a restart. Every firewall operation runs through one queue, so concurrent knocks
 * cannot race; knocks that arrive while the firewall is busy are applied together as one batch
 * (one tool call). A grant counts as open only after the firewall said yes, and it is persisted
 * before its entry goes in (write-ahead), so a crash cannot orphan it.
 *
 * When a tool call fails, the backend is set up again (a table or chain deleted underneath comes
 * back), compared with what the firewall really holds, and every difference is put right. The same
 * comparison runs at start (entries of a lost state file are adopted or removed) and periodically.
 * @module
 */
import type { Logger } from 'pino';
import type { PortSpec } from '../../protocol/ports.js';
import { changedRule, ruleKey, type ApplyFailure, type Change, type Entry, type Firewall } from '../firewall/firewall.js';
import { asGrant, diffWithFirewall, effective, grantKey, GrantTable, type Grant, type GrantRequest } from './grant-table.js';
import { Serial } from './serial.js';
import type { GrantRecord } from '../state/state.js';

export type { GrantRequest } from './grant-table.js';

/**
 * knock, timeout, shutdown: as asked. expired-while-down: found past its deadline at start.
 * stale: in the firewall with no grant behind it. lost: gone from the firewall and could not be put back.
 * revoked: a reload took away its user, the user's keys, or its port.
 */
export type CloseReason = 'knock' | 'timeout' | 'shutdown' | 'expired-while-down' | 'stale' | 'lost' | 'revoked';

/** Called once the job's batch is with the firewall (or needed no change), once per batch however many of its jobs share it: see {@link Grants.open}. */
type HandedOver = () => void;

type Job =
  | { readonly kind: 'open'; readonly req: GrantRequest; readonly durationSec: number; readonly done: (ok: boolean) => void; readonly handedOver?: HandedOver }
  | { readonly kind: 'close'; readonly req: GrantRequest; readonly why: CloseReason; readonly done: () => void; readonly handedOver?: HandedOver }
  /** The deadline timer fired; closes unless the grant was extended meanwhile. */
  | { readonly kind: 'expire'; readonly req: GrantRequest; readonly done: () => void };

const CLOSE_RETRY_MS = 5_000;
/** A grant this close to its deadline is not put back when missing: the kernel may have expired it already. */
const EXPIRY_GRACE_MS = 2_000;

export interface GrantsOptions {
  readonly firewall: Firewall;
  readonly log: Logger;
  readonly now: () => number;
  /**
   * Persists the state (grants and replay cache); awaited before an entry goes in, so a crash
   * cannot orphan it, and before a knock takes effect, so the knock cannot be replayed after one.
   */
  readonly persist: () => Promise<void>;
  /** Ports the backend drops unless granted (nftables' own table); see {@link Grants.setProtected}. */
  readonly protect?: readonly PortSpec[];
  /** Compare the firewall with the grants this often, once restored; never if undefined. */
  readonly sweepEveryMs?: number;
}

function failedRules(failures: readonly ApplyFailure[]): Set<string> {
  return new Set(failures.flatMap((f) => f.changes.map((c) => ruleKey(changedRule(c)))));
}

export class Grants {
  private readonly table = new GrantTable();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly queue = new Serial();
  private pending: Job[] = [];
  private flushQueued = false;
  /** Grants being closed right now: persisted until their entries are out. */
  private closing: Grant[] = [];
  private protect: readonly PortSpec[];
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: GrantsOptions) {
    this.protect = opts.protect ?? [];
  }

  get size(): number {
    return this.table.size;
  }

  /** Resolves when every queued firewall operation has finished. */
  settled(): Promise<void> {
    return this.queue.idle();
  }

  records(): GrantRecord[] {
    return [...this.table.all(), ...this.closing].map(asGrant);
  }

  /**
   * Opens the grant for `durationSec`, or extends it if it is already open. Resolves true if open.
   * `handedOver` is called once the state is saved and the batch is with the firewall (its tool
   * may be committing it), or when no change was needed: the pipeline logs the knock there (one
   * callback for a knock's ports, all in one batch, is called once).
   */
  open(req: GrantRequest, durationSec: number, handedOver?: HandedOver): Promise<boolean> {
    return new Promise((done) => this.enqueue({ kind: 'open', req, durationSec, done, ...(handedOver === undefined ? {} : { handedOver }) }));
  }

  /** Closes the grant if it is open; `handedOver` as for {@link open}. */
  close(req: GrantRequest, why: CloseReason, handedOver?: HandedOver): Promise<void> {
    return new Promise((done) => this.enqueue({ kind: 'close', req, why, done, ...(handedOver === undefined ? {} : { handedOver }) }));
  }

  /** Closes, in one batch, every grant `keep` refuses (after a reload: see daemon.ts). */
  revoke(keep: (grant: GrantRecord) => boolean): Promise<void> {
    const gone = this.table.all().filter((grant) => !keep(grant));
    return Promise.all(gone.map((grant) => this.close(grant, 'revoked'))).then(() => undefined);
  }

  /** Closes every grant (shutdown) in one batch. Later opens are refused. */
  closeAll(why: CloseReason): Promise<void> {
    return this.queue.run(async () => {
      this.stopped = true;
      if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
      await this.process(this.table.all().map((req) => ({ kind: 'close', req, why, done: () => {} })));
    });
  }

  /**
   * After a restart: closes grants whose deadline passed while the daemon was down, re-arms the
   * rest, and squares the firewall with them: entries of a lost state file are adopted until their
   * deadline (or removed if it passed), missing ones put back. Then starts the periodic sweep.
   */
  restore(records: readonly GrantRecord[]): Promise<void> {
    return this.queue.run(async () => {
      const now = this.opts.now();
      const expired = records.filter((r) => r.deadlineMs <= now);
      for (const r of records) if (r.deadlineMs > now) this.table.put(asGrant(r));
      const listing = await this.listing();
      if (listing === null) await this.restoreBlind(expired);
      else await this.reconcile(listing, expired, true);
      for (const grant of this.table.all()) {
        this.arm(grant);
        this.logOpen(grant, 'restored');
      }
      await this.opts.persist();
      this.scheduleSweep();
    });
  }

  /** Compares the firewall with the grants and puts right what differs (also run periodically). */
  sweep(): Promise<void> {
    return this.queue.run(async () => {
      if (this.stopped) return;
      if (!(await this.setup())) return;
      const listing = await this.listing();
      if (listing !== null) await this.reconcile(listing, [], false);
    });
  }

  /** New ports to protect (a reload changed the users' ports); applied at once. */
  setProtected(protect: readonly PortSpec[]): Promise<void> {
    this.protect = protect;
    return this.queue.run(async () => void (await this.setup()));
  }

  // -- batches --------------------------------------------------------------------------------

  private enqueue(job: Job): void {
    this.pending.push(job);
    if (this.flushQueued) return;
    this.flushQueued = true;
    void this.queue.run(async () => {
      this.flushQueued = false;
      await this.process(this.pending.splice(0));
    });
  }

  /** Applies a batch of jobs to the grants, then to the firewall in one go; undoes what did not go in. */
  private async process(jobs: readonly Job[]): Promise<void> {
    if (jobs.length === 0) return;
    const now = this.opts.now();
    const before = new Map<string, Map<string, Grant> | undefined>();
    const effects: { job: Job; grant?: Grant; prev?: Grant }[] = [];
    for (const job of jobs) {
      const key = ruleKey(job.req);
      if (!before.has(key)) before.set(key, this.table.holders(key));
      const prev = this.table.get(job.req);
      if (job.kind === 'open') {
        if (this.stopped) {
          effects.push({ job });
          continue;
        }
        const deadlineMs = Math.max(prev?.deadlineMs ?? 0, now + job.durationSec * 1000);
        const grant = asGrant({ ...job.req, deadlineMs });
        this.table.put(grant);
        effects.push({ job, grant, prev });
      } else if (prev !== undefined && (job.kind === 'close' || prev.deadlineMs <= now)) {
        this.table.delete(prev);
        effects.push({ job, prev });
      } else {
        effects.push({ job, grant: prev }); // not open, or extended meanwhile (re-armed below)
      }
    }
    const changes: Change[] = [];
    for (const [key, holders] of before) {
      const was = effective(holders);
      const is = this.table.entry(key);
      const same = was === undefined || is === undefined ? was === is : was.user === is.user && was.deadlineMs === is.deadlineMs;
      if (!same) changes.push({ before: was, after: is });
    }
    this.closing = effects.filter((e) => e.job.kind !== 'open' && e.prev !== undefined && e.grant === undefined).map((e) => e.prev as Grant);
    // Write-ahead, once per batch: saved before any entry goes in (closing grants stay saved until
    // they are out), and before a knock takes effect, so its replay entry is saved with it.
    const knocked = jobs.some((j) => j.kind === 'open' || (j.kind === 'close' && j.why === 'knock'));
    if (knocked || changes.some((c) => c.after !== undefined)) await this.opts.persist();
    const handedOver = new Set<HandedOver>();
    for (const job of jobs) if (job.kind !== 'expire' && job.handedOver !== undefined) handedOver.add(job.handedOver);
    const failed = await this.commit(changes, () => {
      for (const callback of handedOver) {
        try {
          callback();
        } catch {
          // A caller's failure (its log line) must not leave this batch unawaited and unarmed.
        }
      }
    });
    this.closing = [];
    // Undo what did not go in; rules outside this batch that a repair could not put back are the sweep's.
    for (const key of failed) if (before.has(key)) this.table.restoreRule(key, before.get(key));

    for (const { job, grant, prev } of effects) {
      const ok = !failed.has(ruleKey(job.req));
      if (job.kind === 'open') {
        if (grant !== undefined && ok) {
          this.arm(grant);
          this.logOpen(grant, prev === undefined ? 'new' : 'extended');
        }
        job.done(grant !== undefined && ok);
      } else {
        if (prev !== undefined && grant === undefined) {
          const why = job.kind === 'close' ? job.why : 'timeout';
          if (ok) this.forget(prev, why);
          else if (!this.stopped) this.retryClose(prev, why);
        } else if (grant !== undefined) {
          this.arm(grant);
        }
        job.done();
      }
    }
    if (changes.length > 0) void this.opts.persist();
  }

  /**
   * Applies changes; if the tool fails, sets the backend up again and retries against what the
   * firewall really holds (which also puts back other grants a deleted table took with it).
   * Returns the rules that are still not as wanted.
   */
  private async commit(changes: readonly Change[], handedOver: () => void): Promise<Set<string>> {
    if (changes.length === 0) {
      handedOver();
      return new Set();
    }
    const applying = this.opts.firewall.apply(changes);
    handedOver(); // backends hand the batch to their tool before their first await (iptables: one family's)
    const failures = await applying;
    if (failures.length === 0) return new Set();
    this.logFailures(failures);
    if (!(await this.setup())) return failedRules(failures);
    const listing = await this.listing();
    if (listing === null) {
      const again = await this.opts.firewall.apply(failures.flatMap((f) => f.changes));
      this.logFailures(again);
      return failedRules(again);
    }
    const batch = new Set(changes.map((c) => ruleKey(changedRule(c))));
    const diff = diffWithFirewall(this.table, listing, this.opts.now(), 0);
    const again = await this.opts.firewall.apply(diff.changes);
    this.logFailures(again);
    const failed = failedRules(again);
    this.logRepair(diff.missing.filter((e) => !batch.has(ruleKey(e))), diff.stale.filter((e) => !batch.has(ruleKey(e))), failed, false);
    return failed;
  }

  /**
   * Makes the firewall hold what the grants want. `expired` are grants found past their deadline
   * at start: they are logged closed once their entries are out. Other entries with no grant are
   * adopted at start if still live (a lost state file), and otherwise removed.
   */
  private async reconcile(listing: readonly Entry[], expired: readonly GrantRecord[], atStart: boolean): Promise<void> {
    const now = this.opts.now();
    if (atStart) {
      for (const entry of listing) {
        if (entry.deadlineMs > now && this.table.entry(ruleKey(entry)) === undefined) this.table.put(asGrant(entry));
      }
    }
    const { changes, missing, stale } = diffWithFirewall(this.table, listing, now, EXPIRY_GRACE_MS);
    const failures = await this.opts.firewall.apply(changes);
    this.logFailures(failures);
    const failed = failedRules(failures);
    const expiredKeys = new Set(expired.map(grantKey));
    for (const record of expired) if (!failed.has(ruleKey(record))) this.logClose(record, 'expired-while-down');
    this.logRepair(atStart ? [] : missing, stale.filter((e) => !expiredKeys.has(grantKey(e))), failed, atStart);
    // Not in the kernel and cannot be put back: not open, so it must not count as open.
    for (const entry of missing) {
      if (!failed.has(ruleKey(entry))) continue;
      for (const grant of this.table.all().filter((g) => ruleKey(g) === ruleKey(entry))) this.forget(grant, 'lost');
    }
  }

  /** Logs entries put back (firewall-repair) and stale ones taken out (close). */
  private logRepair(putBack: readonly Entry[], removed: readonly Entry[], failed: ReadonlySet<string>, atStart: boolean): void {
    const now = this.opts.now();
    for (const entry of removed) {
      if (!failed.has(ruleKey(entry))) this.logClose(entry, atStart && entry.deadlineMs <= now ? 'expired-while-down' : 'stale');
    }
    const back = putBack.filter((e) => !failed.has(ruleKey(e)));
    if (back.length > 0) {
      const grants = back.slice(0, 20).map((e) => `${e.user} ${e.ip} ${e.proto}/${e.port}`);
      this.opts.log.warn({ event: 'firewall-repair', count: back.length, grants }, 'grants were missing from the firewall; put back');
    }
  }

  /** Start without a view of the firewall (command backend): trust the records. */
  private async restoreBlind(expired: readonly GrantRecord[]): Promise<void> {
    const changes: Change[] = expired.filter((r) => this.table.entry(ruleKey(r)) === undefined).map((r) => ({ before: asGrant(r), after: undefined }));
    const failures = await this.opts.firewall.apply(changes);
    this.logFailures(failures);
    const failed = failedRules(failures);
    for (const record of expired) {
      if (!failed.has(ruleKey(record))) this.logClose(record, 'expired-while-down');
      else this.retryClose(asGrant(record), 'expired-while-down');
    }
  }

  // -- helpers --------------------------------------------------------------------------------

  private async setup(): Promise<boolean> {
    try {
      await this.opts.firewall.setup(this.protect);
      return true;
    } catch (err) {
      this.logError('setup', err);
      return false;
    }
  }

  /** What the firewall holds, or null if it cannot tell or the listing failed (logged). */
  private async listing(): Promise<Entry[] | null> {
    try {
      return await this.opts.firewall.list();
    } catch (err) {
      this.logError('list', err);
      return null;
    }
  }

  private scheduleSweep(): void {
    const every = this.opts.sweepEveryMs;
    if (every === undefined || this.stopped) return;
    this.sweepTimer = setTimeout(() => {
      void this.sweep().finally(() => this.scheduleSweep());
    }, every);
  }

  private arm(grant: Grant): void {
    const key = grantKey(grant);
    const old = this.timers.get(key);
    if (old !== undefined) clearTimeout(old);
    const wait = Math.max(0, grant.deadlineMs - this.opts.now());
    this.timers.set(key, setTimeout(() => {
      this.timers.delete(key);
      this.enqueue({ kind: 'expire', req: grant, done: () => {} });
    }, wait));
  }

  /** Keeps a grant whose entry could not be taken out, and tries again later. */
  private retryClose(grant: Grant, why: CloseReason): void {
    if (this.table.get(grant) === undefined) this.table.put(grant);
    const key = grantKey(grant);
    const old = this.timers.get(key);
    if (old !== undefined) clearTimeout(old);
    this.timers.set(key, setTimeout(() => {
      this.timers.delete(key);
      void this.close(grant, why);
    }, CLOSE_RETRY_MS));
  }

  /** The grant is out of the firewall: drop it and say so. */
  private forget(grant: Grant, why: CloseReason): void {
    const key = grantKey(grant);
    const timer = this.timers.get(key);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(key);
    this.table.delete(grant);
    this.logClose(grant, why);
  }

  private logClose(g: GrantRequest, why: CloseReason): void {
    const { user, ip, proto, port } = g;
    this.opts.log.info({ event: 'close', user, ip, proto, port, why }, 'grant closed');
  }

  private logOpen(grant: Grant, how: 'new' | 'extended' | 'restored'): void {
    const { user, ip, proto, port, deadlineMs } = grant;
    const deadline = new Date(deadlineMs).toISOString();
    this.opts.log.info({ event: 'open', user, ip, proto, port, deadline, extended: how === 'extended', restored: how === 'restored' }, 'grant open');
  }

  private logFailures(failures: readonly ApplyFailure[]): void {
    for (const { changes, error } of failures) {
      const kinds = new Set(changes.map((c) => (c.before === undefined ? 'open' : c.after === undefined ? 'close' : 'extend')));
      const op = kinds.size === 1 ? [...kinds][0] : 'apply';
      const one = changes.length === 1 ? changedRule(changes[0] as Change) : undefined;
      const about = one === undefined ? { changes: changes.length } : { user: one.user, ip: one.ip, proto: one.proto, port: one.port };
      this.opts.log.error({ event: 'firewall-error', op, ...about, argv: error.argv, stderr: error.stderr.trim(), exitCode: error.exitCode }, 'firewall command failed');
    }
  }

  private logError(op: 'setup' | 'list', err: unknown): void {
    const e = err as { argv?: readonly string[]; stderr?: string; exitCode?: unknown; message?: string };
    this.opts.log.error({ event: 'firewall-error', op, argv: e.argv, stderr: (e.stderr ?? e.message ?? String(err)).trim(), exitCode: e.exitCode }, 'firewall command failed');
  }
}
