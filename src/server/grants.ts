/**
 * Open grants and their lifecycle: open (or extend), close on knock, on deadline, on shutdown,
 * and after a restart. Every firewall operation runs through one queue, so concurrent knocks
 * cannot race. A grant counts as open only after the firewall said yes; a close that fails is
 * checked against the firewall and retried while the rule is still there.
 * @module
 */
import type { Logger } from 'pino';
import type { Proto } from '../protocol/ports.js';
import { FirewallError, type Firewall, type Rule } from './firewall/firewall.js';
import { Serial } from './serial.js';
import type { GrantRecord } from './state.js';

export type CloseReason = 'knock' | 'timeout' | 'shutdown' | 'expired-while-down';

export interface GrantRequest {
  readonly user: string;
  readonly ip: string;
  readonly family: 4 | 6;
  readonly proto: Proto;
  readonly port: number;
}

interface Grant extends GrantRequest {
  deadlineMs: number;
  timer: NodeJS.Timeout | undefined;
}

const CLOSE_RETRY_MS = 5_000;

function grantKey(g: GrantRequest): string {
  return `${g.user} ${g.ip} ${g.proto}/${g.port}`;
}

function toRule(g: GrantRequest): Rule {
  return { ip: g.ip, family: g.family, proto: g.proto, port: g.port };
}

export interface GrantsOptions {
  readonly firewall: Firewall;
  readonly log: Logger;
  readonly now: () => number;
  /**
   * Persists the daemon's state; awaited before a rule goes in (so a crash cannot orphan it) and
   * before an extension, so an open knock's replay claim is on disk before it takes effect.
   */
  readonly persist: () => Promise<void>;
}

export class Grants {
  private readonly live = new Map<string, Grant>();
  private readonly queue = new Serial();
  private stopped = false;

  constructor(private readonly opts: GrantsOptions) {}

  get size(): number {
    return this.live.size;
  }

  /** Resolves when every queued firewall operation has finished. */
  settled(): Promise<void> {
    return this.queue.idle();
  }

  records(): GrantRecord[] {
    return [...this.live.values()].map(({ user, ip, family, proto, port, deadlineMs }) => ({ user, ip, family, proto, port, deadlineMs }));
  }

  /** Opens the grant for `durationSec`, or extends it if it is already open. Resolves true if open. */
  open(req: GrantRequest, durationSec: number): Promise<boolean> {
    return this.queue.run(async () => {
      if (this.stopped) return false;
      const deadlineMs = this.opts.now() + durationSec * 1000;
      const existing = this.live.get(grantKey(req));
      if (existing !== undefined) {
        existing.deadlineMs = Math.max(existing.deadlineMs, deadlineMs);
        // Awaited like the write-ahead below: the save also carries the knock's replay claim.
        await this.opts.persist();
        this.arm(existing);
        this.logOpen(existing, 'extended');
        return true;
      }
      // Write-ahead: once the rule is in, a restart must know of it, even after SIGKILL.
      const grant: Grant = { ...req, deadlineMs, timer: undefined };
      this.live.set(grantKey(req), grant);
      await this.opts.persist();
      if (!(await this.firewallDo('open', req))) {
        this.live.delete(grantKey(req));
        void this.opts.persist();
        return false;
      }
      this.arm(grant);
      this.logOpen(grant, 'new');
      return true;
    });
  }

  /** Closes the grant if it is open. */
  close(req: GrantRequest, why: CloseReason): Promise<void> {
    return this.queue.run(async () => {
      const grant = this.live.get(grantKey(req));
      if (grant !== undefined) await this.closeNow(grant, why);
    });
  }

  /** Closes every grant (shutdown). Later opens are refused. */
  closeAll(why: CloseReason): Promise<void> {
    return this.queue.run(async () => {
      this.stopped = true;
      for (const grant of [...this.live.values()]) await this.closeNow(grant, why);
    });
  }

  /** After a restart: closes grants whose deadline passed while the daemon was down, re-arms the rest. */
  restore(records: readonly GrantRecord[]): Promise<void> {
    return this.queue.run(async () => {
      for (const record of records) {
        const grant: Grant = { ...record, timer: undefined };
        this.live.set(grantKey(grant), grant);
        if (grant.deadlineMs <= this.opts.now()) {
          await this.closeNow(grant, 'expired-while-down');
          continue;
        }
        // The rule may be gone (a reboot flushed the firewall): put it back for the rest of its time.
        const present = await this.opts.firewall.isOpen(toRule(grant)).catch(() => false);
        if (!present && !(await this.firewallDo('open', grant))) {
          this.live.delete(grantKey(grant));
          continue;
        }
        this.arm(grant);
        this.logOpen(grant, 'restored');
      }
      await this.opts.persist();
    });
  }

  private arm(grant: Grant): void {
    if (grant.timer !== undefined) clearTimeout(grant.timer);
    const wait = Math.max(0, grant.deadlineMs - this.opts.now());
    grant.timer = setTimeout(() => {
      grant.timer = undefined;
      void this.queue.run(async () => {
        if (this.live.get(grantKey(grant)) !== grant) return;
        if (grant.deadlineMs > this.opts.now()) this.arm(grant); // extended meanwhile
        else await this.closeNow(grant, 'timeout');
      });
    }, wait);
  }

  private async closeNow(grant: Grant, why: CloseReason): Promise<void> {
    if (grant.timer !== undefined) clearTimeout(grant.timer);
    grant.timer = undefined;
    if (!(await this.firewallDo('close', grant))) {
      // Still open? Keep it and try again; gone anyway? Then it is closed.
      const stillOpen = await this.opts.firewall.isOpen(toRule(grant)).catch(() => true);
      if (stillOpen) {
        grant.timer = setTimeout(() => void this.close(grant, why), CLOSE_RETRY_MS);
        return;
      }
    }
    this.live.delete(grantKey(grant));
    const { user, ip, proto, port } = grant;
    this.opts.log.info({ event: 'close', user, ip, proto, port, why }, 'grant closed');
    void this.opts.persist();
  }

  private async firewallDo(op: 'open' | 'close', req: GrantRequest): Promise<boolean> {
    try {
      await (op === 'open' ? this.opts.firewall.open(toRule(req)) : this.opts.firewall.close(toRule(req)));
      return true;
    } catch (err) {
      const detail = err instanceof FirewallError ? { argv: err.argv, stderr: err.stderr.trim(), exitCode: err.exitCode } : { error: String(err) };
      this.opts.log.error({ event: 'firewall-error', op, user: req.user, ip: req.ip, proto: req.proto, port: req.port, ...detail }, 'firewall command failed');
      return false;
    }
  }

  private logOpen(grant: Grant, how: 'new' | 'extended' | 'restored'): void {
    const { user, ip, proto, port, deadlineMs } = grant;
    const deadline = new Date(deadlineMs).toISOString();
    this.opts.log.info({ event: 'open', user, ip, proto, port, deadline, extended: how === 'extended', restored: how === 'restored' }, 'grant open');
  }
}
