/**
 * What a group costs, measured on a {@link GroupNet} (two gateways, a hub running Debian's
 * redis-server, a client; test/lab/group-net.ts), for `npm run bench:cluster` (bench/cluster.ts)
 * and the cluster rows of `npm run bench` (bench/compare.ts):
 *   1. server activation, pre-built knock sent -> first TCP connect through gateway A, with A
 *      alone (no [cluster]) and with A in a group (the claim's round trip to Redis in the hub
 *      namespace on the path), B stopped; then again with B running (B's work shares the cores);
 *   2. propagation: A's "knock accepted" log line -> B's rule in effect, seen by the client's first
 *      TCP connect through B (knocks to A, connects to B); and A's line -> B's "grant open" line,
 *      which B logs once its firewall tool has exited (later than the rule takes effect). One
 *      clock, the host's; pino's times are whole milliseconds;
 *   3. the load one Redis takes (bench/cluster-load.ts in the hub): knocks/s with N other
 *      gateways reading the stream, for a few small N.
 * Bounded: `rounds` rounds of at most ~3.5 s each per activation figure (three of them) and for
 * propagation through B, `loadSeconds` per N.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY_A_V4, GATEWAY_B_V4, GROUP_CLIENT_V4, GroupNet, HUB_V4 } from '../test/lab/group-net.js';
import { NODE, run } from '../test/lab/process.js';
import { unmetNeeds } from '../test/lab/requirements.js';
import { gatewaySite, groupKeys, REDIS_PASSWORD, REDIS_PORT, startGateway, startRedis } from '../test/support/cluster.js';
import { craftPacket, REPO_ROOT, SPA_PORT, type Daemon, type Site } from '../test/support/knockspa.js';
import { fmt, percentile, type Table } from './report.js';

export interface ClusterOptions {
  readonly rounds: number;
  /** How many other gateways read the stream, one Redis load figure each. */
  readonly readers: readonly number[];
  readonly loadSeconds: number;
  /** Redis's appendfsync: always (docs/operations.md's advice, an fsync per write) or everysec. */
  readonly appendfsync?: 'always' | 'everysec';
  /** The gateways' backend: iptables (a base rule drops tcp/22) or nftables (knockspa's own table drops it). */
  readonly firewall?: 'iptables' | 'nftables';
}

export interface RedisLoad {
  readonly readers: number;
  readonly knocksPerSec: number;
  readonly deliveredPerSec: number;
}

export interface ClusterFigures {
  /** Activation through A alone, ms per round that connected. */
  readonly single: number[];
  /** Activation through A in a group, B stopped. */
  readonly grouped: number[];
  /** The same with B running on the same machine (the propagation rounds). */
  readonly groupedWithB: number[];
  /** A accepted -> B's "grant open" log line, ms, in the rounds of groupedWithB. */
  readonly spread: number[];
  /** A accepted -> the client's first connect through B, ms. */
  readonly spreadToRule: number[];
  readonly loads: RedisLoad[];
  /** Rounds that did not connect within 3 s (not in the percentiles). */
  readonly failed: { single: number; grouped: number; throughB: number };
}

/**
 * Per round: a random pause, the open packet to `host`, TCP connects to `probeHost` started every
 * 0.5 ms until one gets through, then the close packet and a pause for it to take effect.
 * argv: file of {host, probeHost, port, spaPort, rounds: [{open, close}]}. Prints a JSON array of
 * {ms: send -> connect, or null after 3 s; sent, at: the send's and the connect's wall-clock times in ms}.
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
    const s = net.connect({ host: cfg.probeHost, port: cfg.port });
    live.add(s);
    s.on('connect', () => { if (finished) return; finished = true; const now = performance.now(); clearInterval(timer); for (const x of live) x.destroy(); done({ ms: now - t0, sent: performance.timeOrigin + t0, at: performance.timeOrigin + now }); });
    s.on('error', () => live.delete(s));
  };
  const timer = setInterval(attempt, 0.5);
  setTimeout(() => { if (!finished) { finished = true; clearInterval(timer); for (const x of live) x.destroy(); done({ ms: null, sent: performance.timeOrigin + t0, at: null }); } }, 3000);
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

async function activation(
  net: GroupNet,
  site: Site,
  label: string,
  rounds: number,
  probeHost = GATEWAY_A_V4,
): Promise<{ ok: number[]; failed: number; connects: Connect[] }> {
  const key = site.keyPath('alice');
  const packets = Array.from({ length: rounds }, (_, i) => {
    // Stamped ahead by the round's place (max_skew is 30 s here), so every packet is fresh when sent.
    const t = Date.now() + i * 400;
    return {
      open: Buffer.from(craftPacket({ keyFile: key, action: 'open', ports: ['tcp/22'], timestampMs: t })).toString('hex'),
      close: Buffer.from(craftPacket({ keyFile: key, action: 'close', ports: ['tcp/22'], timestampMs: t + 1 })).toString('hex'),
    };
  });
  const file = join(site.dir, `activation-${label}.json`);
  writeFileSync(file, JSON.stringify({ host: GATEWAY_A_V4, probeHost, port: 22, spaPort: SPA_PORT, rounds: packets }));
  const r = await run(net.ns.cli, [NODE, '-e', ACTIVATION_AGENT, file], { timeoutMs: rounds * 5_000 + 10_000 });
  const connects = JSON.parse(r.stdout.trim()) as Connect[];
  const ok = connects.flatMap((c) => (c.ms === null ? [] : [c.ms]));
  return { ok, failed: connects.length - ok.length, connects };
}

/** One round of the activation agent: wall-clock ms (one clock, the host's, as the daemons' logs). */
interface Connect {
  readonly ms: number | null;
  readonly sent: number;
  readonly at: number | null;
}

/**
 * A's "knock accepted" to the client's first connect through B, per round, in ms: the knock A
 * accepted after that round's send (pino's whole milliseconds: 1 ms of slack) and before the connect.
 */
function propagationToRule(a: Daemon, sinceA: number, connects: readonly Connect[]): number[] {
  const accepted = a.log
    .slice(sinceA)
    .filter((l) => l.event === 'knock' && l.action === 'open')
    .map((l) => Date.parse(String(l.time)));
  return connects.flatMap(({ sent, at }) => {
    if (at === null) return [];
    const t = accepted.find((ms) => ms >= Math.floor(sent) - 1 && ms <= at);
    return t === undefined ? [] : [at - t];
  });
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

/** Runs the three measurements on a net of its own, removed at the end (also when one fails). */
export async function measureCluster(o: ClusterOptions): Promise<ClusterFigures> {
  const firewall = o.firewall ?? 'iptables';
  const unmet = unmetNeeds(['netns', firewall === 'iptables' ? 'iptables' : 'nft', 'redis-server']);
  if (unmet !== null) throw new Error(unmet);
  const cleanups: Array<() => Promise<void>> = [];
  const net = await GroupNet.create({ after: (fn) => void cleanups.push(async () => fn()) });
  try {
    await startRedis(net, o.appendfsync ?? 'always');
    const keys = await groupKeys(net, ['alice']);
    for (const ns of [net.ns.gwa, net.ns.gwb]) {
      await net.tcpService(ns, 22);
      if (firewall === 'iptables') await net.run(ns, ['iptables', '-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'DROP']);
    }
    const extra = { max_skew: 30, firewall };
    // A alone: the same site without [cluster].
    const alone = gatewaySite(net, keys, 'a', {}, extra);
    alone.config = { ...alone.config };
    delete (alone.config as { cluster?: unknown }).cluster;
    alone.writeConfig();
    let a = await startGateway(net, net.ns.gwa, alone);
    const single = await activation(net, alone, 'single', o.rounds);
    await a.stop();

    const siteA = gatewaySite(net, keys, 'a', { grants: 'everywhere', on_redis_down: 'refuse' }, extra);
    const siteB = gatewaySite(net, keys, 'b', { grants: 'everywhere', on_redis_down: 'refuse' }, extra);
    // A's activation in the group with B stopped: on this one machine B's firewall work would
    // share A's two cores, which gateways on machines of their own do not. Then both, for propagation.
    a = await startGateway(net, net.ns.gwa, siteA);
    const grouped = await activation(net, siteA, 'group', o.rounds);
    const b = await startGateway(net, net.ns.gwb, siteB);
    const [ma, mb] = [a.mark(), b.mark()];
    const both = await activation(net, siteA, 'spread', o.rounds);
    const spread = propagation(a, b, ma, mb);
    const viaB = a.mark();
    const toB = await activation(net, siteA, 'through-b', o.rounds, GATEWAY_B_V4);
    const spreadToRule = propagationToRule(a, viaB, toB.connects);
    await a.stop();
    await b.stop();

    const loads: RedisLoad[] = [];
    const url = `redis://:${REDIS_PASSWORD}@${HUB_V4}:${REDIS_PORT}/0`;
    for (const n of o.readers) {
      const argv = [NODE, join(REPO_ROOT, 'dist', 'bench', 'cluster-load.js'), '--url', url, '--readers', String(n)];
      const r = await run(net.ns.hub, [...argv, '--seconds', String(o.loadSeconds)], { timeoutMs: o.loadSeconds * 1000 + 60_000 });
      const j = JSON.parse(r.stdout.trim()) as { knocksPerSec: number; deliveredPerSec: number };
      loads.push({ readers: n, knocksPerSec: j.knocksPerSec, deliveredPerSec: j.deliveredPerSec });
    }
    return {
      single: single.ok,
      grouped: grouped.ok,
      groupedWithB: both.ok,
      spread,
      spreadToRule,
      loads,
      failed: { single: single.failed, grouped: grouped.failed + both.failed, throughB: toB.failed },
    };
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

/** The latencies as table rows: figure, p50, p90, n. */
export function clusterRows(f: ClusterFigures): Table {
  const row = (label: string, xs: readonly number[]): string[] => [
    label,
    fmt(percentile(xs, 50), 2),
    fmt(percentile(xs, 90), 2),
    String(xs.length),
  ];
  return [
    row('server activation, gateway alone', f.single),
    row('server activation, gateway in a group (B stopped)', f.grouped),
    // p90s of two small samples differ by noise more than by the claim: the p50s only.
    ['added by the group (difference of the p50s)', fmt(percentile(f.grouped, 50) - percentile(f.single, 50), 2), '-', '-'],
    row('server activation, in a group, B on the same cores', f.groupedWithB),
    row('propagation, A accepted -> B rule (connect through B)', f.spreadToRule),
    row('propagation, A accepted -> B "grant open" log line', f.spread),
  ];
}

export const CLUSTER_HEADER = ['cluster figure (ms)', 'p50', 'p90', 'n'];

/** The Redis load as table rows: readers, knocks/s, entries/s delivered. */
export function redisRows(f: ClusterFigures): Table {
  return f.loads.map((l) => [String(l.readers), fmt(l.knocksPerSec, 0), fmt(l.deliveredPerSec, 0)]);
}

export const REDIS_HEADER = ['other gateways reading', 'Redis: knocks/s (claim + stream entry)', 'entries/s delivered'];
