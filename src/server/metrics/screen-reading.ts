/**
 * knockspa_screen_dropped_total: the kernel screen's drops (firewall/screen.ts), read from the
 * firewall at scrape time (a tool run, async: the packet path never waits for it). The firewall's
 * counters are totals; the metric moves by what they grew since the last reading, so it stays a
 * counter when the screen is put back with fresh counters (a repair) or taken out for a while.
 * @module
 */
import type { Logger } from 'pino';
import { SCREEN_REASONS, type ScreenCounters, type ScreenReason } from '../firewall/screen.js';
import type { MetricsSink } from './sink.js';

/** Scrapes closer together than this share one read of the firewall. */
export const SCREEN_READ_MIN_AGE_MS = 1000;

export function screenReading(
  read: () => Promise<ScreenCounters | null>,
  log: Logger,
  now: () => number = Date.now,
): (m: MetricsSink) => Promise<void> {
  const last: Partial<Record<ScreenReason, number>> = {};
  let pending: Promise<void> | undefined;
  let settled = true;
  let readAtMs = -Infinity;
  let failing = false;
  const refresh = async (m: MetricsSink): Promise<void> => {
    let counters: ScreenCounters | null;
    try {
      counters = await read();
    } catch (err) {
      // Once per run of failures: a scrape every 15 s must not fill the log.
      if (!failing)
        log.warn({ event: 'metrics-error', metric: 'screen', error: (err as Error).message }, 'cannot read the kernel screen counters');
      failing = true;
      return;
    }
    failing = false;
    if (counters === null) return; // not in place now: nothing dropped by it, the metric stays
    for (const reason of SCREEN_REASONS) {
      const total = counters[reason];
      const before = last[reason];
      // Lower than last time: the counters were made afresh, all they hold is new.
      m.inc('screenDropped', { reason }, before === undefined ? total : total >= before ? total - before : total);
      last[reason] = total;
    }
  };
  // One read at a time: an older answer arriving after a newer one would look like a reset.
  return (m) => {
    if (pending === undefined || (settled && now() - readAtMs >= SCREEN_READ_MIN_AGE_MS)) {
      readAtMs = now();
      settled = false;
      pending = refresh(m).finally(() => (settled = true));
    }
    return pending;
  };
}
