/**
 * The log lines of the grant lifecycle: open, close, firewall errors and repairs. JSON events for
 * journald (docs/operations.md lists them).
 * @module
 */
import type { Logger } from 'pino';
import { changedRule, type ApplyFailure, type Change, type Entry } from '../firewall/firewall.js';
import type { CloseReason, Grant, GrantRequest } from './grant-book.js';

export function logOpen(log: Logger, grant: Grant, how: 'new' | 'extended' | 'restored'): void {
  const { user, ip, proto, port, deadlineMs } = grant;
  const deadline = new Date(deadlineMs).toISOString();
  log.info({ event: 'open', user, ip, proto, port, deadline, extended: how === 'extended', restored: how === 'restored' }, 'grant open');
}

export function logClose(log: Logger, g: GrantRequest, why: CloseReason): void {
  const { user, ip, proto, port } = g;
  log.info({ event: 'close', user, ip, proto, port, why }, 'grant closed');
}

export function logFailures(log: Logger, failures: readonly ApplyFailure[]): void {
  for (const { changes, error } of failures) {
    const kinds = new Set(changes.map((c) => (c.before === undefined ? 'open' : c.after === undefined ? 'close' : 'extend')));
    const op = kinds.size === 1 ? [...kinds][0] : 'apply';
    const one = changes.length === 1 ? changedRule(changes[0] as Change) : undefined;
    const about = one === undefined ? { changes: changes.length } : { user: one.user, ip: one.ip, proto: one.proto, port: one.port };
    log.error(
      { event: 'firewall-error', op, ...about, argv: error.argv, stderr: error.stderr.trim(), exitCode: error.exitCode },
      'firewall command failed',
    );
  }
}

export function logToolError(log: Logger, op: 'setup' | 'list', err: unknown): void {
  const e = err as { argv?: readonly string[]; stderr?: string; exitCode?: unknown; message?: string };
  log.error(
    { event: 'firewall-error', op, argv: e.argv, stderr: (e.stderr ?? e.message ?? String(err)).trim(), exitCode: e.exitCode },
    'firewall command failed',
  );
}

/** Entries put back into the firewall (one warning for them all). */
export function logPutBack(log: Logger, entries: readonly Entry[]): void {
  if (entries.length === 0) return;
  const grants = entries.slice(0, 20).map((e) => `${e.user} ${e.ip} ${e.proto}/${e.port}`);
  log.warn({ event: 'firewall-repair', count: entries.length, grants }, 'grants were missing from the firewall; put back');
}
