/**
 * `knockspa grants`: lists the live grants (user, address, port, time left), from the running
 * daemon (its control socket: what it believes, the same as it acts on), from what the
 * firewall holds (nftables, iptables: knockspa's own entries, found by their comment) or from
 * the daemon's state file (any backend; what the daemon believes).
 * @module
 */
import { pino } from 'pino';
import { ConfigError, UsageError } from '../shared/errors.js';
import { loadConfig } from './config/config.js';
import { FirewallError } from './firewall/firewall.js';
import { makeFirewall } from './firewall/registry.js';
import { asConfigError } from './firewall/settings.js';
import { StateStore } from './state/state.js';
import { ask, controlSocketPath, NoDaemon } from './control/control-client.js';

export interface GrantsCommandOptions {
  readonly config: string;
  readonly from?: string;
  readonly json?: boolean;
}

interface Row {
  readonly user: string;
  readonly ip: string;
  readonly proto: string;
  readonly port: number;
  readonly deadlineMs: number;
}

/** "1h02m", "4m05s", "12s". */
export function formatLeft(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (h > 0) return `${h}h${pad(m)}m`;
  if (m > 0) return `${m}m${pad(s % 60)}s`;
  return `${s}s`;
}

async function readRows(configPath: string, from: string | undefined): Promise<{ rows: Row[]; source: string }> {
  const config = loadConfig(configPath);
  const canList = config.firewallSettings.backend.capabilities.lists;
  if (from === undefined || from === 'daemon') {
    const socket = controlSocketPath(config.stateDir);
    try {
      const answer = await ask(socket, { op: 'grants' });
      if (!answer.ok) throw new Error(`the daemon refused: ${answer.error}`);
      if (!('grants' in answer)) throw new Error('the daemon sent an answer to another question');
      return { rows: [...answer.grants], source: `running daemon, ${socket}` };
    } catch (err) {
      // No daemon: what it left behind is all there is (unless the daemon was asked for).
      if (!(err instanceof NoDaemon) || from === 'daemon') throw err;
    }
  }
  const source = from ?? (canList ? 'firewall' : 'state');
  if (source === 'firewall') {
    if (!canList) throw new UsageError(`--from firewall: the ${config.firewall} backend cannot list what it did; use --from state`);
    const firewall = makeFirewall(config, pino({ enabled: false }));
    return { rows: (await firewall.list().catch(asConfigError(config.file))) ?? [], source: `firewall, ${firewall.description}` };
  }
  if (source === 'cluster') {
    const { groupGrants } = await import('./cluster/group-grants.js');
    return { rows: await groupGrants(config), source: `group "${config.cluster?.name ?? ''}" in Redis (what its gateways shared)` };
  }
  if (source !== 'state') throw new UsageError(`--from: expected daemon, firewall, state or cluster, got ${JSON.stringify(source)}`);
  const store = new StateStore(config.stateDir);
  const loaded = store.load(true);
  if (loaded.kind === 'corrupt') throw new Error(`${store.file}: unreadable (${loaded.error})`);
  return { rows: loaded.kind === 'ok' ? [...loaded.state.grants] : [], source: `state file ${store.file}` };
}

export async function runGrants(opts: GrantsCommandOptions, now: () => number = Date.now): Promise<number> {
  let result: { rows: Row[]; source: string };
  try {
    result = await readRows(opts.config, opts.from);
  } catch (err) {
    const hint = err instanceof FirewallError ? ' (run as root; is the daemon set up? `knockspa server --check`)' : '';
    process.stderr.write(`knockspa: ${(err as Error).message}${hint}\n`);
    return err instanceof ConfigError || err instanceof UsageError ? 2 : 1;
  }
  const t = now();
  const rows = result.rows
    .filter((r) => r.deadlineMs > t)
    .sort((a, b) => a.user.localeCompare(b.user) || a.ip.localeCompare(b.ip) || a.port - b.port);
  if (opts.json === true) {
    for (const r of rows) {
      const line = {
        user: r.user,
        ip: r.ip,
        proto: r.proto,
        port: r.port,
        deadline: new Date(r.deadlineMs).toISOString(),
        leftSec: Math.ceil((r.deadlineMs - t) / 1000),
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
    return 0;
  }
  const table = [
    ['USER', 'ADDRESS', 'PORT', 'LEFT'],
    ...rows.map((r) => [r.user, r.ip, `${r.proto}/${r.port}`, formatLeft(r.deadlineMs - t)]),
  ];
  const widths = [0, 1, 2].map((i) => Math.max(...table.map((row) => (row[i] as string).length)));
  const lines = table.map((row) => row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] as number) : cell)).join('  '));
  process.stdout.write(
    `${rows.length === 0 ? '' : `${lines.join('\n')}\n`}${rows.length} live grant${rows.length === 1 ? '' : 's'} (from the ${result.source})\n`,
  );
  return 0;
}
