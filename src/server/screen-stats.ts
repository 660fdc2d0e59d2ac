/**
 * `knockspa grants --stats`: what the kernel screen of the SPA port (firewall/screen.ts) has
 * dropped, per reason. Read from the firewall itself (root), the same counters the daemon's
 * metrics follow: they are the kernel's, so the answer is the same whether the daemon runs or not,
 * and no control-socket question is needed.
 * @module
 */
import { pino } from 'pino';
import { ConfigError, UsageError } from '../shared/errors.js';
import { loadConfig } from './config/config.js';
import { FirewallError } from './firewall/firewall.js';
import { makeFirewall } from './firewall/registry.js';
import { readScreenCounters } from './firewall/screen-counters.js';
import { SCREEN_REASONS, type ScreenCounters } from './firewall/screen.js';

export interface StatsCommandOptions {
  readonly config: string;
  readonly json?: boolean;
}

type Answer = { readonly counters: ScreenCounters; readonly source: string } | { readonly none: string };

async function readStats(configPath: string): Promise<Answer> {
  const config = loadConfig(configPath);
  if (!config.kernelScreen) return { none: 'no kernel screen: kernel_screen = false in the config' };
  if (config.firewallSettings.backend.capabilities.screensSpaPort !== true)
    return { none: `no kernel screen: the ${config.firewall} backend here has none (the daemon screens every datagram itself)` };
  const firewall = makeFirewall(config, pino({ enabled: false }));
  const counters = await readScreenCounters(firewall);
  if (counters === null) return { none: 'kernel screen not in place (the daemon puts it in at start and takes it out at stop)' };
  return { counters, source: firewall.description };
}

export async function runScreenStats(opts: StatsCommandOptions): Promise<number> {
  let answer: Answer;
  try {
    answer = await readStats(opts.config);
  } catch (err) {
    const hint = err instanceof FirewallError ? ' (run as root)' : '';
    process.stderr.write(`knockspa: ${(err as Error).message}${hint}\n`);
    return err instanceof ConfigError || err instanceof UsageError ? 2 : 1;
  }
  if ('none' in answer) {
    if (opts.json === true) process.stdout.write(`${JSON.stringify({ screen: null, why: answer.none })}\n`);
    else process.stdout.write(`${answer.none}\n`);
    return 0;
  }
  const { counters, source } = answer;
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify({ screen: { ...counters }, source })}\n`);
    return 0;
  }
  const table = [['REASON', 'DROPPED'], ...SCREEN_REASONS.map((r) => [r, String(counters[r])])];
  const width = Math.max(...table.map(([reason]) => (reason as string).length));
  process.stdout.write(
    `${table.map(([reason, n]) => `${(reason as string).padEnd(width)}  ${n as string}`).join('\n')}\n` +
      `dropped by the kernel screen of the SPA port (from the firewall, ${source})\n`,
  );
  return 0;
}
