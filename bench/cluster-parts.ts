/**
 * `npm run bench:cluster-parts` (as root): where a group's milliseconds go, part by part, on the
 * same lab as bench/cluster-figures.ts (a hub running Debian's redis-server, gateways A and B):
 *   1. the claim's round trip (SET NX PX) from A's namespace, with Redis fsyncing its append-only
 *      file on every write (appendfsync always) and once a second (everysec, Redis's default);
 *   2. a stream entry's trip: XADD from A -> B's blocked XREAD returns it;
 *   3. a firewall change in B's namespace: one rule in and out through iptables-restore --noflush,
 *      as the daemon's iptables backend makes it (a fresh process per change here; the daemon
 *      starts its next one ahead of need, so this is an upper bound of its cost).
 *
 *   node dist/bench/cluster-parts.js [--rounds 200]
 * @module
 */
import { loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GroupNet, HUB_V4 } from '../test/lab/group-net.js';
import { NODE, run } from '../test/lab/process.js';
import { REDIS_PASSWORD, REDIS_PORT, startRedis } from '../test/support/cluster.js';
import { REPO_ROOT } from '../test/support/knockspa.js';
import { fmt, percentile, textTable } from './report.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '200' } } });
const rounds = Number(values.rounds);

/** argv: url rounds mode (claim | stream). Prints a JSON array of ms. */
const REDIS_AGENT = `
const { createClient } = require(process.argv[4]);
const [url, roundsText, mode] = process.argv.slice(1);
const rounds = Number(roundsText);
(async () => {
  const c = createClient({ url, RESP: 2 }); c.on('error', () => {}); await c.connect();
  const out = [];
  if (mode === 'claim') {
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await c.sendCommand(['SET', 'parts:replay:' + i + ':' + Math.random(), '1', 'NX', 'PX', '60000']);
      out.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 2));
    }
  } else {
    const reader = c.duplicate(); reader.on('error', () => {}); await reader.connect();
    let last = '$';
    for (let i = 0; i < rounds; i++) {
      const got = reader.sendCommand(['XREAD', 'COUNT', '10', 'BLOCK', '2000', 'STREAMS', 'parts:grants', last]);
      await new Promise((r) => setTimeout(r, 3));
      const t0 = performance.now();
      await c.sendCommand(['XADD', 'parts:grants', 'MAXLEN', '~', '1000', '*', 'kind', 'open', 'i', String(i)]);
      const reply = await got;
      out.push(performance.now() - t0);
      const entries = reply[0][1];
      last = entries[entries.length - 1][0];
    }
    reader.destroy();
  }
  console.log(JSON.stringify(out));
  c.destroy();
})();
`;

/** argv: rounds. One rule in, one out, a fresh iptables-restore each; prints a JSON array of ms. */
const FIREWALL_AGENT = `
const { spawn } = require('node:child_process');
const rounds = Number(process.argv[1]);
const restore = (script) => new Promise((done, fail) => {
  const p = spawn('iptables-restore', ['-w', '--noflush'], { stdio: ['pipe', 'ignore', 'inherit'] });
  p.on('exit', (code) => (code === 0 ? done() : fail(new Error('iptables-restore ' + code))));
  p.stdin.end(script);
});
(async () => {
  await restore('*filter\\n:PARTS - [0:0]\\nCOMMIT\\n');
  const out = [];
  for (let i = 0; i < rounds; i++) {
    const rule = '-s 198.18.1.2/32 -p tcp -m tcp --dport 22 -m comment --comment "parts ' + i + '" -j ACCEPT';
    const t0 = performance.now();
    await restore('*filter\\n-A PARTS ' + rule + '\\nCOMMIT\\n');
    out.push(performance.now() - t0);
    await restore('*filter\\n-D PARTS ' + rule + '\\nCOMMIT\\n');
  }
  console.log(JSON.stringify(out));
})();
`;

const load0 = loadavg()[0] ?? 0;
const net = await GroupNet.create({ after: () => undefined });
const rows: string[][] = [];
const row = (label: string, ms: number[]): void => {
  rows.push([label, fmt(percentile(ms, 50), 2), fmt(percentile(ms, 90), 2), String(ms.length)]);
};
try {
  await startRedis(net);
  const url = `redis://:${REDIS_PASSWORD}@${HUB_V4}:${REDIS_PORT}/0`;
  const client = join(REPO_ROOT, 'node_modules', '@redis', 'client');
  const redisAgent = async (mode: string): Promise<number[]> => {
    const r = await run(net.ns.gwa, [NODE, '-e', REDIS_AGENT, url, String(rounds), mode, client], { timeoutMs: rounds * 100 + 30_000 });
    return JSON.parse(r.stdout.trim()) as number[];
  };
  const config = async (fsync: string): Promise<void> => {
    await run(net.ns.hub, ['redis-cli', '-h', HUB_V4, '-a', REDIS_PASSWORD, '--no-auth-warning', 'CONFIG', 'SET', 'appendfsync', fsync]);
  };
  row('claim round trip (SET NX PX), appendfsync always', await redisAgent('claim'));
  row('stream entry XADD -> XREAD returns, appendfsync always', await redisAgent('stream'));
  await config('everysec');
  row('claim round trip (SET NX PX), appendfsync everysec', await redisAgent('claim'));
  row('stream entry XADD -> XREAD returns, appendfsync everysec', await redisAgent('stream'));
  const fw = await run(net.ns.gwb, [NODE, '-e', FIREWALL_AGENT, String(Math.min(rounds, 100))], { timeoutMs: 120_000 });
  row('firewall: one rule in (iptables-restore --noflush, fresh process)', JSON.parse(fw.stdout.trim()) as number[]);
} finally {
  await net.destroy();
}
const load1 = loadavg()[0] ?? 0;
process.stdout.write(
  `cluster parts: ${cpus().length} CPUs, node ${process.version}, load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after\n`,
);
process.stdout.write(`${textTable(['part (ms)', 'p50', 'p90', 'n'], rows)}\n`);
