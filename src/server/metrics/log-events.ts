/**
 * Which log events move which metrics: the daemon's log events are its observation points
 * (docs/operations.md lists them), so the pipeline and the applier know nothing of metrics.
 * Rejections the log holds back in a flood arrive in the `reject-suppressed` summary (at most
 * one interval late) and are counted from it.
 * @module
 */
import { OVER_BUDGET } from '../intake/auth-budget.js';
import type { MetricsSink } from './sink.js';

const str = (v: unknown, fallback = 'unknown'): string => (typeof v === 'string' && v !== '' ? v : fallback);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

function rejected(m: MetricsSink, reason: string, count: number): void {
  if (count <= 0) return;
  if (reason === OVER_BUDGET) m.inc('overBudget', {}, count);
  else m.inc('rejects', { reason }, count);
}

/** Moves the metrics one log event stands for. */
export function countLogEvent(m: MetricsSink, f: Readonly<Record<string, unknown>>): void {
  switch (f['event']) {
    case 'knock':
      m.inc('knocksAccepted', { user: str(f['user']), format: str(f['format'], 'knockspa') });
      return;
    case 'reject':
      return rejected(m, str(f['reason']), 1);
    case 'reject-suppressed': {
      const reasons = f['reasons'];
      if (typeof reasons === 'object' && reasons !== null)
        for (const [reason, count] of Object.entries(reasons as Record<string, unknown>)) rejected(m, reason, num(count));
      return;
    }
    case 'firewall-error':
      m.inc('firewallErrors', { op: str(f['op']) });
      return;
    case 'firewall-repair':
      m.inc('firewallRepairs', { kind: 'put-back' }, num(f['count']));
      return;
    case 'close':
      if (f['why'] === 'stale') m.inc('firewallRepairs', { kind: 'stale-removed' });
      return;
    case 'state-error':
      m.inc('stateSaveFailures');
      return;
    case 'listener-error':
      m.inc('listenerErrors', { reason: str(f['reason']) });
      m.set('listenerDown', 1);
      return;
    case 'listener-recovered':
      m.inc('listenerRecoveries');
      m.set('listenerDown', 0);
      return;
  }
}
