/**
 * `npm run bench:cluster` (as root): what a group costs. On a {@link GroupNet} (two gateways, a
 * hub running Debian's redis-server, a client; test/lab/group-net.ts):
 *   1. server activation, pre-built knock sent -> first TCP connect through gateway A, p50/p90,
 *      with A alone (no [cluster]) and with A in a group (the claim's round trip to Redis in the
 *      hub namespace on the path);
 *   2. propagation: A's "knock accepted" log line -> B's "grant open" line (both daemons' clocks
 *      are the host's; pino's times are whole milliseconds), p50/p90;
 *   3. the load one Redis takes (bench/cluster-load.ts in the hub): knocks/s with N other
 *      gateways reading the stream, for a few small N.
 * Prints the figures; they go into bench/README.md by hand, with the machine's load.
 *
 *   node dist/bench/cluster.js [--rounds 40] [--readers 2,8,32] [--load-seconds 5]
 * @module
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GATEWAY_A_V4, GROUP_CLIENT_V4, GroupNet, HUB_V4 } from '../test/lab/group-net.js';
import { NODE, run } from '../test/lab/process.js';
import { unmetNeeds } from '../test/lab/requirements.js';
import { gatewaySite, groupKeys, REDIS_PASSWORD, REDIS_PORT, startGateway, startRedis } from '../test/support/cluster.js';
import { craftPacket, REPO_ROOT, SPA_PORT, type Daemon, type Site } from '../test/support/knockspa.js';
import { fmt, percentile } from './report.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '40' },
    readers: { type: 'string', default: '2,8,32' },
    'load-seconds': { type: 'string', default: '5' },
  },
});
const ROUNDS = Number(values.rounds);

/**
 * Per round: a random pause, the open packet, TCP connects started every 0.5 ms until one gets
 * through (ms from the send to that connect), then the close packet and a pause for it to take
 * effect. argv: file of {host, port, spaPort, rounds: [{open, close}]}. Prints a JSON array.
 */
const ACTIVATION_AGENT = `
const fs = require('node:fs'); const net = require('node:net'); const dgram = require('node:dgram');
const cfg = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
const sock = dgram.createSocket('udp4');
const send = (hex) => new Promise((r) => sock.send(Buffer.from(hex, 'hex'), cfg.spaPort, cfg.host, r));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const firstConnect = (t0) => new Promise((done) => {
  const live = new Set(); let finished = false;
  const attempt = () => {
    if (finished) return;
    const s = net.connect({ host: cfg.host, port: cfg.port });
    live.add(s);
    s.on('connect', () => { if (finished) return; finished = true; const ms = performance.now() - t0; clearInterval(timer); for (const x of live) x.destroy(); done(ms); });
    s.on('error', () => live.delete(s));
  };
  const timer = setInterval(attempt, 0.5);
  setTimeout(() => { if (!finished) { finished = true; clearInterval(timer); for (const x of live) x.destroy(); done(null); } }, 3000);
  attempt();
});
(async () => {
  const out = [];
  for (const r of cfg.rounds) {
    await sleep(50 + Math.random() * 100);
    const t0 = performance.now();
    await send(r.open);
    out.push(await firstConnect(t0));
    await send(r.close);
    await sleep(250);
  }
  console.log(JSON.stringify(out));
  sock.close();
})();
`;

async function activation(net: GroupNet, site: Site, label: string): Promise<number[]> {
  const key = site.keyPath('alice');
  const rounds = Array.from({ length: ROUNDS }, (_, i) => {
    // Stamped ahead by the round's place (max_skew is 30 s here), so every packet is fresh when sent.
    const t = Date.now() + i * 400;
    return {
      open: Buffer.from(craftPacket({ keyFile: key, action: 'open', ports: ['tcp/22'], timestampMs: t })).toString('hex'),
      close: Buffer.from(craftPacket({ keyFile: key, action: 'close', ports: ['tcp/22'], timestampMs: t + 1 })).toString('hex'),
    };
  });
  const file = join(site.dir, `activation-${label}.json`);
  writeFileSync(file, JSON.stringify({ host: GATEWAY_A_V4, port: 22, spaPort: SPA_PORT, rounds }));
  const r = await run(net.ns.cli, [NODE, '-e', ACTIVATION_AGENT, file], { timeoutMs: ROUNDS * 5_000 + 10_000 });
  const ms = JSON.parse(r.stdout.trim()) as Array<number | null>;
  const ok = ms.filter((m): m is number => m !== null);
  if (ok.length < ms.length) process.stderr.write(`${label}: ${ms.length - ok.length} rounds did not connect within 3 s\n`);
  return ok;
}

/**
 * A's "knock accepted" to B's "grant open", per open knock, in ms. A's open knocks and its open
 * lines come in the same order; B's open line is the one with the same deadline (B gives A's).
 */
function propagation(a: Daemon, b: Daemon, sinceA: number, sinceB: number): number[] {
  const accepted = a.log.slice(sinceA).filter((l) => l.event === 'knock' && l.action === 'open');
  const aOpens = a.log.slice(sinceA).filter((l) => l.event === 'open' && l.ip === GROUP_CLIENT_V4);
  const bOpenAt = new Map<unknown, string>(
    b.log
      .slice(sinceB)
      .filter((l) => l.event === 'open' && l.ip === GROUP_CLIENT_V4)
      .map((l): [unknown, string] => [l.deadline, String(l.time)]),
  );
  return accepted.flatMap((knock, i) => {
    const at = bOpenAt.get(aOpens[i]?.deadline);
    return at === undefined ? [] : [Date.parse(at) - Date.parse(String(knock.time))];
  });
}

function line(label: string, xs: readonly number[]): string {
  return `${label.padEnd(52)} p50 ${fmt(percentile(xs, 50), 2).padStart(7)}  p90 ${fmt(percentile(xs, 90), 2).padStart(7)}  (n=${xs.length})`;
}

async function main(): Promise<void> {
  const unmet = unmetNeeds(['netns', 'iptables', 'redis-server']);
  if (unmet !== null) throw new Error(unmet);
  const cleanups: Array<() => Promise<void>> = [];
  const net = await GroupNet.create({ after: (fn) => void cleanups.push(async () => fn()) });
  try {
    const load0 = loadavg()[0] ?? 0;
    await startRedis(net);
    const keys = await groupKeys(net, ['alice']);
    for (const ns of [net.ns.gwa, net.ns.gwb]) {
      await net.tcpService(ns, 22);
      await net.run(ns, ['iptables', '-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'DROP']);
    }
    const extra = { max_skew: 30 };
    // A alone: the same site without [cluster].
    const alone = gatewaySite(net, keys, 'a', {}, extra);
    alone.config = { ...alone.config };
    delete (alone.config as { cluster?: unknown }).cluster;
    alone.writeConfig();
    let a = await startGateway(net, net.ns.gwa, alone);
    const single = await activation(net, alone, 'single');
    await a.stop();

    const siteA = gatewaySite(net, keys, 'a', { grants: 'everywhere', on_redis_down: 'refuse' }, extra);
    const siteB = gatewaySite(net, keys, 'b', { grants: 'everywhere', on_redis_down: 'refuse' }, extra);
    a = await startGateway(net, net.ns.gwa, siteA);
    const b = await startGateway(net, net.ns.gwb, siteB);
    const [ma, mb] = [a.mark(), b.mark()];
    const grouped = await activation(net, siteA, 'group');
    const spread = propagation(a, b, ma, mb);
    await a.stop();
    await b.stop();

    const loads: string[] = [];
    const url = `redis://:${REDIS_PASSWORD}@${HUB_V4}:${REDIS_PORT}/0`;
    for (const n of values.readers.split(',').map(Number)) {
      const r = await run(
        net.ns.hub,
        [
          NODE,
          join(REPO_ROOT, 'dist', 'bench', 'cluster-load.js'),
          '--url',
          url,
          '--readers',
          String(n),
          '--seconds',
          values['load-seconds'],
        ],
        { timeoutMs: 120_000 },
      );
      const j = JSON.parse(r.stdout.trim()) as { knocksPerSec: number; deliveredPerSec: number };
      loads.push(
        `Redis load, ${String(n).padStart(3)} other gateways reading: ${fmt(j.knocksPerSec, 0).padStart(7)} knocks/s (claim + stream entry), ${fmt(j.deliveredPerSec, 0)} entries/s delivered`,
      );
    }
    const load1 = loadavg()[0] ?? 0;
    const lines = [
      `cluster bench: ${cpus().length} CPUs, node ${process.version}, load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after; ${ROUNDS} rounds`,
      line('server activation, gateway alone (ms)', single),
      line('server activation, gateway in a group (ms)', grouped),
      line('propagation, A accepted -> B grant open (ms)', spread),
      ...loads,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
