/**
 * `npm run bench` (as root): knockspa (udp and pcap) against fwknopd and knockd, on the same path.
 * Builds a client and a server namespace (test/lab/netns.ts), installs Debian's fwknop-server,
 * fwknop-client and knockd if missing, and for each daemon in turn measures:
 *   1. knock-to-connect: client command started -> first TCP connect to port 22, p50/p90, with a
 *      bare `node -e 0` timed between rounds (same minutes, same load) to compare against;
 *   2. server activation: pre-built knock sent -> first TCP connect (no client start-up);
 *   3. daemon CPU seconds per 100,000 invalid packets of three kinds (bounded-rate sender);
 *   4. valid knocks under a junk flood: success rate, latency, and the daemon's peak RSS;
 *   5. (knockspa) the client's wait for the port after a pre-built knock: its probe's short retry
 *      schedule against one connect left to the kernel's SYN retransmit (the client before);
 *   6. (knockspa) SSH-key knocks: with an SSH-key user configured beside the key-file user (bench/ssh-user.ts,
 *      a real ssh-agent signs), CPU per 100,000 invalid SSH-shaped packets (unknown candidate id; known
 *      candidate id, bad signature) and valid SSH-key knocks under a flood of random, unknown-candidate
 *      and bad-signature packets, all paced at --cpu-rate / --flood-rate (the fast sender too).
 * Then the cluster rows (bench/cluster-figures.ts, on a net of their own with Debian's
 * redis-server): activation through a gateway alone and in a group, propagation to the second
 * gateway, and the knocks/s one Redis takes with 2 and 8 gateways reading (--rounds rounds each,
 * CLUSTER_LOAD_SECONDS per load figure: about a minute in all).
 * Then (--figures rates, bench/rate-table.ts) the rate table: for each contender, rate (--rates) and
 * junk kind, the daemon's CPU per 100,000 junk packets and its valid knocks under that junk, all
 * from the fast sender, --rate-seconds per phase.
 * Prints a table with ratios to the anchors and adds a dated entry to bench/README.md.
 * Everything it starts and every namespace is removed at the end, also on Ctrl-C.
 *
 *   node dist/bench/compare.js [--rounds 30] [--flood-rate 50000] [--flood-seconds 20] [--cpu-rate 25000]
 *                              [--fast-rate 0] [--probe-rounds 100] [--rates 10000,50000,200000,0] [--rate-seconds 3]
 *                              [--only NAME]... [--figures LIST] [--keep] [--no-readme]
 * The nftables rows (with and without the kernel screen) take their junk, for the CPU figures and
 * the flood, from the fast C sender (bench/junk-sender.c, built with cc into the temp directory) at
 * --fast-rate packets/s (0: as fast as it goes), still bounded by 100,000 packets / --flood-seconds.
 * --only runs some contenders ("knockspa udp", "fwknopd", ...); --figures some measurements
 * (startup,connect,activation,cpu,flood,probe,ssh,rates,cluster; all by default; a partial run adds nothing to the README);
 * --keep leaves the daemons' logs and configs in the temp directory and prints where.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestNet } from '../test/lab/netns.js';
import { startTcpService } from '../test/lab/probes.js';
import { NODE, run, runOk, sleep, type NsProcess } from '../test/lab/process.js';
import { NETNS_TOOLS, netnsUnavailableReason, unmetNeeds, type Need } from '../test/lab/requirements.js';
import { startFlood, writePayloads, type FloodOptions } from '../test/support/junk.js';
import { REPO_ROOT, SPA_PORT } from '../test/support/knockspa.js';
import type { ProbeAnswer, ProbeCommand, RaceAnswer, RaceCommand, RunAnswer } from './agent.js';
import { fwknopd, JUNK_KINDS, knockd, knockspa, knockspaNft, PORT, type Contender, type JunkKind } from './contenders.js';
import { comm, cpuSeconds, peakRssMb, waitIdle } from './procfs.js';
import { buildFastSender, startFastFlood } from './fast-sender.js';
import { addResults, fmt, markdownTable, percentile, ratio, textTable, type Table } from './report.js';
import { CLUSTER_HEADER, clusterRows, measureCluster, REDIS_HEADER, redisRows, type ClusterFigures } from './cluster-figures.js';
import { KNOCK_SOURCES, measureRates, RATE_HEADER, rateRows, type RateCell } from './rate-table.js';
import type { Datagram } from './agent.js';
import { makeSshUser, SSH_JUNK_KINDS, type SshJunkKind, type SshUser } from './ssh-user.js';

const PACKAGES = ['fwknop-server', 'fwknop-client', 'knockd'];
/** For the cluster rows. */
const CLUSTER_PACKAGES = ['redis-server'];
/** The cluster rows' Redis load: fewer readers and seconds than `npm run bench:cluster`, to stay short. */
const CLUSTER_READERS = [2, 8];
const CLUSTER_LOAD_SECONDS = 3;
const AGENT = join(REPO_ROOT, 'dist', 'bench', 'agent.js');
const README = join(REPO_ROOT, 'bench', 'README.md');
/** Flood senders' addresses in the client namespace; valid knocks under flood come from CLIENT2. */
const FLOOD_SOURCES = Array.from({ length: 64 }, (_, i) => `198.18.0.${100 + i}`);
const STARTUP_RUNS = 20;
const BARE_NODE = [NODE, '-e', '0'];
/**
 * A random pause before each timed round. fwknopd reads its capture every ~100 ms (and libpcap
 * hands packets over in blocks): rounds that follow each other at a steady pace can lock onto
 * one phase of that cycle, which made its p50 anything from 75 to 115 ms between runs.
 */
const ROUND_JITTER_MS = 250;
const jitter = (): Promise<void> => sleep(Math.random() * ROUND_JITTER_MS);

/**
 * The environment client commands run in: what a login shell has, not the bench's own. A
 * development machine may set variables that slow every Node start for nothing; here
 * NODE_EXTRA_CA_CERTS made `node -e 0` parse a CA bundle, ~40 ms, which no C client pays.
 */
const CLIENT_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG'].flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]]])),
);
/** Variables of the bench's own environment that change how Node starts (shown beside the clean figure). */
const NODE_START_VARS = ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'NODE_COMPILE_CACHE'].filter((k) => process.env[k] !== undefined);
const FIGURES = ['startup', 'connect', 'activation', 'cpu', 'flood', 'probe', 'ssh', 'rates', 'cluster'] as const;
/** Tools the ssh figure runs (OpenSSH's client side). */
const SSH_TOOLS: readonly Need[] = ['ssh-keygen', 'ssh-agent', 'ssh-add'];
/** Probe spacing for activation (bench/agent.ts sleeps between probes); knock-to-connect probes every 1 ms. */
const ACTIVATION_PROBE_MS = 0.25;
type FigureName = (typeof FIGURES)[number];

interface Options {
  readonly rounds: number;
  /** Rounds of each probe schedule (a p99 wants a hundred). */
  readonly probeRounds: number;
  readonly floodRate: number;
  readonly floodSeconds: number;
  readonly cpuRate: number;
  /** The fast sender's rate (0: unpaced). */
  readonly fastRate: number;
  /** The rate table's rates (0: the fast sender flat out) and the length of each of a cell's two phases. */
  readonly rates: readonly number[];
  readonly rateSeconds: number;
  readonly readme: boolean;
  readonly only: readonly string[];
  readonly figures: ReadonlySet<FigureName>;
  readonly keep: boolean;
}

interface Figures {
  knockToConnect: number[];
  knockToConnectFailed: number;
  /** `node -e 0` wall times, one between each two knock-to-connect rounds. */
  bareNode: number[];
  /** Knock-to-connect with `node -e 0` as the client, then a pre-built knock: Node's start, nothing of ours. */
  bareNodeKnock: number[];
  bareNodeKnockFailed: number;
  activation: number[];
  activationFailed: number;
  cpuPer100k: Partial<Record<JunkKind, number>>;
  /** Packets that reached the daemon, per junk kind and for the flood (when the contender can tell). */
  reached: Partial<Record<JunkKind | 'flood', number>>;
  floodPps: number;
  floodSent: number;
  floodKnocks: number;
  floodOk: number;
  floodLatency: number[];
  peakRssMb: number;
  process: string;
  /** Knock sent -> connected, with the client's probe (a new connect every 100 ms, then 500 ms). */
  probeShort: number[];
  /** The same with one connect left to the kernel's SYN retransmit (1 s, then 3 s). */
  probeSingle: number[];
  probeFailed: number;
  /** The rate table's cells (--figures rates). */
  rates: RateCell[];
  /** The ssh figure (knockspa with an SSH-key user). */
  ssh: SshFigures | undefined;
}

interface FloodFigures {
  pps: number;
  sent: number;
  knocks: number;
  ok: number;
  latency: number[];
  /** Packets that reached the daemon during the flood (when the contender can tell). */
  reached: number | undefined;
}

interface SshFigures {
  cpuPer100k: Partial<Record<SshJunkKind, number>>;
  reached: Partial<Record<SshJunkKind, number>>;
  /** The rate the sender reached for each kind. */
  pps: Partial<Record<SshJunkKind, number>>;
  flood: FloodFigures;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '30' },
      'probe-rounds': { type: 'string', default: '100' },
      'flood-rate': { type: 'string', default: '50000' },
      'flood-seconds': { type: 'string', default: '20' },
      'cpu-rate': { type: 'string', default: '25000' },
      'fast-rate': { type: 'string', default: '0' },
      rates: { type: 'string', default: '10000,50000,200000,0' },
      'rate-seconds': { type: 'string', default: '3' },
      'no-readme': { type: 'boolean', default: false },
      only: { type: 'string', multiple: true, default: [] },
      figures: { type: 'string', default: FIGURES.join(',') },
      keep: { type: 'boolean', default: false },
    },
  });
  const num = (v: string, name: string): number => {
    const n = Number(v);
    if (!(n > 0)) throw new Error(`--${name}: expected a positive number, got ${v}`);
    return n;
  };
  const figures = values.figures.split(',').map((f) => f.trim());
  const unknown = figures.filter((f) => !(FIGURES as readonly string[]).includes(f));
  if (unknown.length > 0) throw new Error(`--figures: expected some of ${FIGURES.join(',')}, got ${unknown.join(',')}`);
  return {
    figures: new Set(figures as FigureName[]),
    rounds: num(values.rounds, 'rounds'),
    probeRounds: num(values['probe-rounds'], 'probe-rounds'),
    floodRate: num(values['flood-rate'], 'flood-rate'),
    floodSeconds: num(values['flood-seconds'], 'flood-seconds'),
    cpuRate: num(values['cpu-rate'], 'cpu-rate'),
    fastRate: values['fast-rate'] === '0' ? 0 : num(values['fast-rate'], 'fast-rate'),
    rates: values.rates.split(',').map((r) => (r.trim() === '0' ? 0 : num(r.trim(), 'rates'))),
    rateSeconds: num(values['rate-seconds'], 'rate-seconds'),
    readme: !values['no-readme'] && figures.length === FIGURES.length,
    only: values.only,
    keep: values.keep,
  };
}

async function ensurePackages(packages: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const p of packages) {
    const r = await run(null, ['dpkg-query', '-W', '-f', '${Status}', p]);
    if (!r.stdout.includes('install ok installed')) missing.push(p);
  }
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(', ')} (apt-get)`);
  await runOk(null, ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing], {
    timeoutMs: 600_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** The agent in the client namespace: one command per line in, one JSON answer per line out. */
class Agent {
  private constructor(private readonly proc: NsProcess) {}

  static start(net: TestNet): Agent {
    return new Agent(net.spawnIn(net.cli, [NODE, AGENT]));
  }

  private async ask<T>(cmd: object, timeoutMs: number): Promise<T> {
    const since = this.proc.mark();
    this.proc.write(`${JSON.stringify(cmd)}\n`);
    return (await this.proc.waitForJson(() => true, { since, timeoutMs: timeoutMs + 10_000 })) as T;
  }

  race(cmd: Omit<RaceCommand, 'op'>): Promise<RaceAnswer> {
    return this.ask({ op: 'race', ...cmd }, cmd.timeoutMs);
  }

  probe(cmd: Omit<ProbeCommand, 'op'>): Promise<ProbeAnswer> {
    return this.ask({ op: 'probe', ...cmd }, cmd.timeoutMs);
  }

  run(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<RunAnswer> {
    return this.ask({ op: 'run', argv, env }, 30_000);
  }

  async exit(): Promise<void> {
    this.proc.write('{"op":"exit"}\n');
    await this.proc.waitExit(5_000);
  }
}

function progress(text: string): void {
  process.stdout.write(`  ${text}\n`);
}

async function measure(
  c: Contender,
  net: TestNet,
  agent: Agent,
  dir: string,
  o: Options,
  fastSender: string | undefined,
): Promise<Figures> {
  // Junk: the fast C sender where the contender asks for it, the paced Node sender otherwise.
  const flooder = (opts: FloodOptions): ReturnType<typeof startFlood> =>
    c.fastJunk === true && fastSender !== undefined
      ? startFastFlood(net, net.cli, fastSender, { ...opts, rate: o.fastRate })
      : startFlood(net, net.cli, opts);
  console.log(`\n${c.name}`);
  await c.start();
  const f: Figures = {
    knockToConnect: [],
    knockToConnectFailed: 0,
    bareNode: [],
    bareNodeKnock: [],
    bareNodeKnockFailed: 0,
    activation: [],
    activationFailed: 0,
    cpuPer100k: {},
    reached: {},
    floodPps: NaN, // NaN: not measured (a dash in the table)
    floodSent: NaN,
    floodKnocks: 0,
    floodOk: 0,
    floodLatency: [],
    peakRssMb: NaN,
    process: '',
    probeShort: [],
    probeSingle: [],
    probeFailed: 0,
    ssh: undefined,
    rates: [],
  };
  const client = net.clientV4;
  const activate = async (from: string, timeoutMs: number): Promise<RaceAnswer> => race(agent, net, from, await c.knock(from), timeoutMs);

  // Ready when a knock opens: daemons report readiness differently, a working knock is the same for all.
  let ready = false;
  for (let i = 0; i < 20 && !ready; i++) {
    ready = (await activate(client, 1_000)).ok;
    if (!ready) await sleep(500);
  }
  if (!ready) throw new Error(`${c.name} did not open port ${PORT} for a valid knock within 30 s (logs in ${dir})`);
  await c.close(client);
  f.process = `${comm(c.pid)} (pid ${c.pid})`;

  const connectRace = { host: net.serverV4, port: PORT, localAddress: client, env: CLIENT_ENV, timeoutMs: 5_000, probeEveryMs: 1 };
  for (let i = 0; i < (o.figures.has('connect') ? o.rounds : 0); i++) {
    await jitter();
    const r = await agent.race({ ...connectRace, spawn: c.clientArgv(client) });
    if (r.ok && r.ms !== null) f.knockToConnect.push(r.ms);
    else f.knockToConnectFailed++;
    await c.close(client);
    // The machine's speed drifts over minutes: a bare Node start timed in the same minutes is
    // the fair thing to compare a Node client's figure with; alone, and as a stand-in client
    // (the same race, probes and daemon, with a knock that costs nothing to make).
    if (!c.name.startsWith('knockspa')) continue; // for the Node client only
    f.bareNode.push((await agent.run(BARE_NODE, CLIENT_ENV)).ms);
    await jitter();
    const bare = await agent.race({ ...connectRace, spawn: BARE_NODE, send: await c.knock(client), sendAfterExit: true });
    if (bare.ok && bare.ms !== null) f.bareNodeKnock.push(bare.ms);
    else f.bareNodeKnockFailed++;
    await c.close(client);
  }
  if (o.figures.has('connect'))
    progress(
      `knock-to-connect p50 ${fmt(percentile(f.knockToConnect, 50))} ms (${f.knockToConnect.length} rounds); between them, node -e 0: p50 ${fmt(percentile(f.bareNode, 50))} ms, and as the client: ${fmt(percentile(f.bareNodeKnock, 50))} ms`,
    );

  for (let i = 0; i < (o.figures.has('activation') ? o.rounds : 0); i++) {
    await jitter();
    const r = await activate(client, 3_000);
    if (r.ok && r.ms !== null) f.activation.push(r.ms);
    else f.activationFailed++;
    await c.close(client);
  }
  if (o.figures.has('activation')) progress(`activation p50 ${fmt(percentile(f.activation, 50), 2)} ms`);

  // The two schedules take turns, so a slow minute slows both alike. Only knockspa's client probes.
  const probing = o.figures.has('probe') && c.name.startsWith('knockspa');
  for (let i = 0; i < (probing ? 2 * o.probeRounds : 0); i++) {
    await jitter();
    const schedule = i % 2 === 0 ? 'short' : 'single';
    const r = await agent.probe({
      host: net.serverV4,
      port: PORT,
      localAddress: client,
      send: await c.knock(client),
      schedule,
      timeoutMs: 10_000,
    });
    if (r.ok && r.ms !== null) (schedule === 'short' ? f.probeShort : f.probeSingle).push(r.ms);
    else f.probeFailed++;
    await c.close(client);
  }
  if (probing)
    progress(
      `client probe after a knock: every 100 ms p50 ${fmt(percentile(f.probeShort, 50))} / p99 ${fmt(percentile(f.probeShort, 99))} ms; one connect (kernel retransmit) p50 ${fmt(percentile(f.probeSingle, 50))} / p99 ${fmt(percentile(f.probeSingle, 99))} ms`,
    );

  for (const kind of o.figures.has('cpu') ? JUNK_KINDS : []) {
    const junk = c.junk(kind, 256);
    const file = writePayloads(join(dir, `junk-${kind}.hex`), junk.payloads);
    const r = await cpuFigure(c, flooder, { host: net.serverV4, port: junk.port, payloads: file, rate: o.cpuRate });
    f.cpuPer100k[kind] = r.cpuPer100k;
    if (r.reached !== undefined) f.reached[kind] = r.reached;
    progress(
      `${kind}: ${fmt(r.cpuPer100k, 3)} CPU s per 100k (sent ${r.sent} at ${r.pps} pps${r.reached === undefined ? '' : `, ${r.reached} reached it`})`,
    );
  }

  // SSH-key knocks: every sender paced at the rates asked (the issue's 50,000/s flood), the fast one too.
  if (o.figures.has('ssh') && c.ssh !== undefined) {
    const paced = (opts: FloodOptions): ReturnType<typeof startFlood> =>
      c.fastJunk === true && fastSender !== undefined ? startFastFlood(net, net.cli, fastSender, opts) : startFlood(net, net.cli, opts);
    f.ssh = await measureSsh(c, c.ssh, net, agent, dir, o, paced);
  }

  if (o.figures.has('flood')) {
    const mixed = JUNK_KINDS.map((kind) => c.junk(kind, 100));
    const floodFile = writePayloads(
      join(dir, 'flood.hex'),
      mixed.flatMap((j) => j.payloads),
    );
    const flood = await floodFigure(c, net, agent, flooder, {
      junk: { host: net.serverV4, port: (mixed[0] as { port: number }).port, payloads: floodFile, rate: o.floodRate },
      seconds: o.floodSeconds,
      knock: (ip) => c.knock(ip),
      close: (ip) => c.close(ip),
    });
    f.floodPps = flood.pps;
    f.floodSent = flood.sent;
    f.floodKnocks = flood.knocks;
    f.floodOk = flood.ok;
    f.floodLatency = flood.latency;
    if (flood.reached !== undefined) f.reached.flood = flood.reached;
    f.peakRssMb = peakRssMb(c.pid);
    progress(
      `flood ${flood.pps} pps: ${f.floodOk}/${f.floodKnocks} knocks ok, p50 ${fmt(percentile(f.floodLatency, 50), 2)} ms, peak RSS ${fmt(f.peakRssMb)} MB`,
    );
  }
  if (o.figures.has('rates')) {
    if (fastSender === undefined) throw new Error('the rate table needs the fast sender');
    const rates = { rates: o.rates, seconds: o.rateSeconds, sources: FLOOD_SOURCES };
    f.rates = await measureRates(c, { net, dir, sender: fastSender, activate, ...rates });
  }
  await c.stop();
  return f;
}

type Flooder = (opts: FloodOptions) => ReturnType<typeof startFlood>;

/**
 * One pre-built knock sent from `from`, then a connect probe every 0.25 ms, the agent sleeping
 * between them: 1 ms timers added ~0.6 ms (half the spacing and the timers' lateness) to a figure
 * of ~5; a busy loop took one of this machine's two cores from the daemon and its firewall tool
 * and added ~2 ms.
 */
function race(agent: Agent, net: TestNet, from: string, send: readonly Datagram[], timeoutMs: number): Promise<RaceAnswer> {
  return agent.race({ host: net.serverV4, port: PORT, localAddress: from, send, timeoutMs, probeEveryMs: ACTIVATION_PROBE_MS });
}

/** The daemon's CPU seconds for 100,000 packets of one file, sent at `rate` from the 64 sources. */
async function cpuFigure(
  c: Contender,
  flooder: Flooder,
  junk: Omit<FloodOptions, 'count' | 'seconds' | 'sources'>,
): Promise<{ cpuPer100k: number; reached: number | undefined; sent: number; pps: number }> {
  await waitIdle(c.pid);
  const before = cpuSeconds(c.pid);
  const reachedBefore = await c.reached?.count();
  const sent = await flooder({ ...junk, count: 100_000, sources: FLOOD_SOURCES }).result;
  await waitIdle(c.pid);
  const cpuPer100k = ((cpuSeconds(c.pid) - before) * 100_000) / sent.sent;
  const reached = reachedBefore === undefined ? undefined : ((await c.reached?.count()) ?? NaN) - reachedBefore;
  return { cpuPer100k, reached, sent: sent.sent, pps: sent.pps };
}

/**
 * A junk flood from the 64 sources for `seconds`, and meanwhile valid knocks from another address,
 * one after the other (each must connect within 3 s, then is closed).
 */
async function floodFigure(
  c: Contender,
  net: TestNet,
  agent: Agent,
  flooder: Flooder,
  o: {
    readonly junk: Omit<FloodOptions, 'count' | 'seconds' | 'sources'>;
    readonly seconds: number;
    readonly knock: (ip: string) => Promise<Datagram[]>;
    readonly close: (ip: string) => Promise<void>;
  },
): Promise<FloodFigures> {
  const reachedBefore = await c.reached?.count();
  const flood = flooder({ ...o.junk, seconds: o.seconds, sources: FLOOD_SOURCES });
  let floodDone = false;
  void flood.result.finally(() => (floodDone = true)).catch(() => undefined);
  const f: FloodFigures = { pps: 0, sent: 0, knocks: 0, ok: 0, latency: [], reached: undefined };
  const started = Date.now();
  await sleep(1_000);
  while (!floodDone && Date.now() - started < (o.seconds - 1.5) * 1_000) {
    f.knocks++;
    const r = await race(agent, net, net.client2V4, await o.knock(net.client2V4), 3_000);
    if (r.ok && r.ms !== null) {
      f.ok++;
      f.latency.push(r.ms);
    }
    await o.close(net.client2V4);
    await sleep(100);
  }
  const sent = await flood.result;
  f.pps = sent.pps;
  f.sent = sent.sent;
  await waitIdle(c.pid);
  if (reachedBefore !== undefined) f.reached = ((await c.reached?.count()) ?? NaN) - reachedBefore;
  return f;
}

/** The ssh figure: CPU per 100,000 invalid SSH-shaped packets of each kind, then SSH-key knocks under the flood. */
async function measureSsh(
  c: Contender,
  ssh: NonNullable<Contender['ssh']>,
  net: TestNet,
  agent: Agent,
  dir: string,
  o: Options,
  paced: Flooder,
): Promise<SshFigures> {
  // The SSH-key user's knock works before anything is timed.
  let ready = false;
  for (let i = 0; i < 10 && !ready; i++) ready = (await race(agent, net, net.clientV4, await ssh.knock(net.clientV4), 1_000)).ok;
  if (!ready) throw new Error(`${c.name} did not open port ${PORT} for a valid SSH-key knock (run with --keep for its log)`);
  await ssh.close(net.clientV4);

  const f: SshFigures = {
    cpuPer100k: {},
    reached: {},
    pps: {},
    flood: { pps: 0, sent: 0, knocks: 0, ok: 0, latency: [], reached: undefined },
  };
  for (const kind of SSH_JUNK_KINDS) {
    const file = writePayloads(join(dir, `junk-${kind}.hex`), ssh.user.junk(kind, 256));
    const r = await cpuFigure(c, paced, { host: net.serverV4, port: SPA_PORT, payloads: file, rate: o.cpuRate });
    f.cpuPer100k[kind] = r.cpuPer100k;
    f.pps[kind] = r.pps;
    if (r.reached !== undefined) f.reached[kind] = r.reached;
    progress(
      `${kind}: ${fmt(r.cpuPer100k, 3)} CPU s per 100k (sent ${r.sent} at ${r.pps} pps${r.reached === undefined ? '' : `, ${r.reached} reached it`})`,
    );
  }
  // The flood: random bytes, unknown candidate ids and bad signatures, a third each.
  const mixed = [...c.junk('random', 100).payloads, ...ssh.user.junk('ssh-unknown', 100), ...ssh.user.junk('ssh-bad-sig', 100)];
  const file = writePayloads(join(dir, 'flood-ssh.hex'), mixed);
  f.flood = await floodFigure(c, net, agent, paced, {
    junk: { host: net.serverV4, port: SPA_PORT, payloads: file, rate: o.floodRate },
    seconds: o.floodSeconds,
    knock: (ip) => ssh.knock(ip),
    close: (ip) => ssh.close(ip),
  });
  progress(
    `ssh flood ${f.flood.pps} pps: ${f.flood.ok}/${f.flood.knocks} SSH-key knocks ok, p50 ${fmt(percentile(f.flood.latency, 50), 2)} ms${f.flood.reached === undefined ? '' : `, ${f.flood.reached} of ${f.flood.sent} reached it`}`,
  );
  return f;
}

async function startupTimes(net: TestNet, agent: Agent, contenders: readonly Contender[]): Promise<Table> {
  const commands: Array<{ name: string; argv: readonly string[]; env: Readonly<Record<string, string>> }> = [
    { name: 'node -e 0', argv: BARE_NODE, env: CLIENT_ENV },
    ...contenders
      .filter((c) => c.name !== 'knockspa pcap')
      .map((c) => ({ name: c.client, argv: c.clientArgv(net.clientV4), env: CLIENT_ENV })),
  ];
  if (NODE_START_VARS.length > 0) {
    const env = { ...CLIENT_ENV, ...Object.fromEntries(NODE_START_VARS.map((k) => [k, process.env[k] as string])) };
    commands.push({ name: `node -e 0 with this machine's ${NODE_START_VARS.join(', ')}`, argv: BARE_NODE, env });
  }
  // Round-robin, so a slow minute slows every command alike.
  const ms = commands.map((): number[] => []);
  for (let i = 0; i < STARTUP_RUNS; i++) for (const [j, c] of commands.entries()) ms[j]?.push((await agent.run(c.argv, c.env)).ms);
  return commands.map((c, j) => [c.name, fmt(percentile(ms[j] ?? [], 50)), fmt(percentile(ms[j] ?? [], 90))]);
}

function resultsTable(names: readonly string[], all: ReadonlyMap<string, Figures>): { header: string[]; rows: string[][] } {
  const mine = names.filter((n) => n.startsWith('knockspa'));
  const anchors = names.filter((n) => !n.startsWith('knockspa'));
  const header = ['figure', ...names, ...mine.flatMap((m) => anchors.map((a) => `${m.replace('knockspa ', '')} / ${a}`))];
  const row = (label: string, get: (f: Figures) => number, decimals = 1, ratios = true): string[] => {
    const values = names.map((n) => get(all.get(n) as Figures));
    const byName = new Map(names.map((n, i) => [n, values[i]]));
    return [
      label,
      ...values.map((v) => fmt(v, decimals)),
      ...mine.flatMap((m) => anchors.map((a) => (ratios ? ratio(byName.get(m), byName.get(a)) : '-'))),
    ];
  };
  const rows = [
    row('knock-to-connect p50 (ms)', (f) => percentile(f.knockToConnect, 50)),
    row('knock-to-connect p90 (ms)', (f) => percentile(f.knockToConnect, 90)),
    row('node -e 0 between those rounds, p50 (ms)', (f) => percentile(f.bareNode, 50), 1, false),
    row('knock-to-connect p50 over node -e 0 (ms)', (f) => percentile(f.knockToConnect, 50) - percentile(f.bareNode, 50), 1, false),
    row('node -e 0 as the client, then a pre-built knock: to connect, p50 (ms)', (f) => percentile(f.bareNodeKnock, 50), 1, false),
    row(
      'knock-to-connect p50 over node -e 0 as the client (ms)',
      (f) => percentile(f.knockToConnect, 50) - percentile(f.bareNodeKnock, 50),
      1,
      false,
    ),
    row('server activation p50 (ms)', (f) => percentile(f.activation, 50), 2),
    row('server activation p90 (ms)', (f) => percentile(f.activation, 90), 2),
    ...JUNK_KINDS.map((k) => row(`CPU s / 100k invalid: ${k}`, (f) => f.cpuPer100k[k] ?? NaN, 3)),
    row('flood: junk sent (packets/s)', (f) => f.floodPps, 0),
    row('flood: valid knocks ok (%)', (f) => (f.floodKnocks === 0 ? NaN : (100 * f.floodOk) / f.floodKnocks)),
    row('flood: activation p50 (ms)', (f) => percentile(f.floodLatency, 50), 2),
    row('flood: activation p90 (ms)', (f) => percentile(f.floodLatency, 90), 2),
    row('peak RSS (MB, VmHWM)', (f) => f.peakRssMb),
    row('client probe, knock -> connect p50 (ms): new connect every 100 ms', (f) => percentile(f.probeShort, 50), 1, false),
    row('client probe, knock -> connect p99 (ms): new connect every 100 ms', (f) => percentile(f.probeShort, 99), 1, false),
    row('client probe, knock -> connect p50 (ms): one connect, kernel SYN retransmit', (f) => percentile(f.probeSingle, 50), 1, false),
    row('client probe, knock -> connect p99 (ms): one connect, kernel SYN retransmit', (f) => percentile(f.probeSingle, 99), 1, false),
    row('SSH key: CPU s / 100k invalid: unknown candidate id', (f) => f.ssh?.cpuPer100k['ssh-unknown'] ?? NaN, 3, false),
    row('SSH key: CPU s / 100k invalid: known candidate id, bad signature', (f) => f.ssh?.cpuPer100k['ssh-bad-sig'] ?? NaN, 3, false),
    row('SSH flood: junk sent (packets/s)', (f) => f.ssh?.flood.pps ?? NaN, 0, false),
    row(
      'SSH flood: valid SSH-key knocks ok (%)',
      (f) => (f.ssh === undefined ? NaN : (100 * f.ssh.flood.ok) / Math.max(1, f.ssh.flood.knocks)),
      1,
      false,
    ),
    row('SSH flood: activation p50 (ms)', (f) => percentile(f.ssh?.flood.latency ?? [], 50), 2, false),
    row('SSH flood: activation p90 (ms)', (f) => percentile(f.ssh?.flood.latency ?? [], 90), 2, false),
  ];
  return { header, rows };
}

/** The rate table in the README entry (bench/rate-table.ts), with what its columns are. */
function rateSection(cells: readonly RateCell[], o: Options): string {
  if (cells.length === 0) return '';
  const what = `Rate table (bench/rate-table.ts): every cell from the fast sender (sendmmsg, ${FLOOD_SOURCES.length} source addresses), ${o.rateSeconds} s of junk alone for the daemon's CPU, then ${o.rateSeconds} s more while valid knocks go one after another from other addresses; socket-buffer drops are the server namespace's Udp RcvbufErrors in that second phase, idle CPU the whole machine's:`;
  return `${what}\n\n${markdownTable(RATE_HEADER, rateRows(cells))}\n\n`;
}

/** The cluster rows in the README entry (two gateways, Redis in a third namespace). */
function clusterSection(f: ClusterFigures | undefined): string {
  if (f === undefined) return '';
  const what = `Cluster (bench/cluster-figures.ts): gateways A and B and Redis (Debian's redis-server) each in a namespace of their own; activation with A alone and with A claiming each knock in Redis; propagation from A's accept to B's open; Redis load ${CLUSTER_LOAD_SECONDS} s per figure:`;
  return `${what}\n\n${markdownTable(CLUSTER_HEADER, clusterRows(f))}\n\n${markdownTable(REDIS_HEADER, redisRows(f))}\n\n`;
}

async function main(): Promise<void> {
  const why = netnsUnavailableReason() ?? unmetNeeds(NETNS_TOOLS);
  if (why !== null) {
    console.error(`bench: needs root and ip netns (${why}); run: sudo npm run bench`);
    process.exit(2);
  }
  const o = options();
  if (o.figures.has('ssh')) {
    const missing = unmetNeeds(SSH_TOOLS);
    if (missing !== null) throw new Error(`--figures ssh: ${missing}`);
  }
  await ensurePackages(o.figures.has('cluster') ? [...PACKAGES, ...CLUSTER_PACKAGES] : PACKAGES);
  const loadBefore = loadavg()[0] as number;
  const net = await TestNet.create();
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-bench-'));
  if (o.keep) console.log(`logs and configs kept in ${dir}`);
  else net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  let agent: Agent | undefined;
  const clusterNotes: string[] = [];
  try {
    const knockSources = o.figures.has('rates') ? KNOCK_SOURCES : [];
    for (const a of [...FLOOD_SOURCES, ...knockSources]) await net.runOk(net.cli, ['ip', 'addr', 'add', `${a}/32`, 'dev', net.cliIf]);
    await startTcpService(net, PORT);
    agent = Agent.start(net);
    // The knockspa contenders get an SSH-key user beside the key-file user only for the ssh figure.
    const sshUser: SshUser | undefined = o.figures.has('ssh') ? await makeSshUser(net, dir, PORT) : undefined;
    const contenders = [
      knockspa(net, 'udp', dir, sshUser),
      knockspa(net, 'pcap', dir, sshUser),
      fwknopd(net, dir),
      knockd(net, dir),
      knockspaNft(net, true, dir, sshUser),
      knockspaNft(net, false, dir, sshUser),
    ].filter((c) => o.only.length === 0 || o.only.includes(c.name));
    if (contenders.length === 0) throw new Error(`--only: none of ${o.only.join(', ')} is a contender`);

    let startup: Table = [];
    if (o.figures.has('startup')) {
      console.log(`client start-up (${STARTUP_RUNS} runs each, taking turns; no daemon running)`);
      startup = await startupTimes(net, agent, contenders);
      console.log(textTable(['command', 'p50 (ms)', 'p90 (ms)'], startup));
    }

    const all = new Map<string, Figures>();
    const fastSender = o.figures.has('rates') || contenders.some((c) => c.fastJunk === true) ? await buildFastSender(dir) : undefined;
    for (const c of contenders) all.set(c.name, await measure(c, net, agent, dir, o, fastSender));

    let cluster: ClusterFigures | undefined;
    if (o.figures.has('cluster')) {
      console.log(`\ncluster: two gateways and a Redis (${o.rounds} rounds; Redis load with ${CLUSTER_READERS.join(', ')} readers)`);
      const c = (cluster = await measureCluster({ rounds: o.rounds, readers: CLUSTER_READERS, loadSeconds: CLUSTER_LOAD_SECONDS }));
      if (c.failed.single + c.failed.grouped + c.failed.throughB > 0)
        clusterNotes.push(
          `- cluster: activation rounds that did not connect within 3 s (not in the percentiles): ${c.failed.single} alone, ${c.failed.grouped} in a group, ${c.failed.throughB} through B`,
        );
    }

    const names = contenders.map((c) => c.name);
    const { header, rows } = resultsTable(names, all);
    // Everything shares the machine: say how busy it was (1-minute load average, before and after).
    const load = `load average ${fmt(loadBefore, 2)} before, ${fmt(loadavg()[0], 2)} after`;
    const machine = `${cpus().length} CPUs (nproc), ${cpus()[0]?.model ?? 'unknown CPU'}, Linux, node ${process.version}, ${load}`;
    const settings = `${o.rounds} rounds; CPU figures at ${o.cpuRate} packets/s and the flood at ${o.floodRate} packets/s for ${o.floodSeconds} s, both from ${FLOOD_SOURCES.length} source addresses; valid knocks under the flood from another address; the rows marked "fast sender" below take their junk from the sendmmsg sender at ${o.fastRate === 0 ? 'its full speed' : `${o.fastRate} packets/s`} instead; client commands run with only ${Object.keys(CLIENT_ENV).join(', ')} from the environment; activation probed every ${ACTIVATION_PROBE_MS} ms, knock-to-connect every 1 ms; client probe ${o.probeRounds} rounds of each schedule, taking turns`;
    const notes = contenders.filter((c) => c.junkNote !== '').map((c) => `- ${c.name}: ${c.junkNote}`);
    const failures = names
      .map((n) => ({ n, f: all.get(n) as Figures }))
      .filter(({ f }) => f.knockToConnectFailed + f.bareNodeKnockFailed + f.activationFailed + f.probeFailed > 0);
    for (const { n, f } of failures)
      notes.push(
        `- ${n}: ${f.knockToConnectFailed} knock-to-connect, ${f.bareNodeKnockFailed} stand-in client, ${f.activationFailed} activation and ${f.probeFailed} client probe rounds failed (not in the percentiles)`,
      );
    for (const c of contenders) {
      const { reached, floodSent } = all.get(c.name) as Figures;
      if (c.reached === undefined || !(o.figures.has('cpu') || o.figures.has('flood'))) continue;
      const kinds = JUNK_KINDS.map((k) => `${k} ${fmt(reached[k], 0)}`).join(', ');
      notes.push(
        `- ${c.name}: packets ${c.reached.what}: of each 100,000 sent, ${kinds}; of the flood's ${fmt(floodSent, 0)}, ${fmt(reached.flood, 0)}`,
      );
    }
    for (const c of contenders) {
      const ssh = (all.get(c.name) as Figures).ssh;
      if (ssh === undefined) continue;
      const rates = SSH_JUNK_KINDS.map((k) => `${k} ${fmt(ssh.pps[k], 0)}/s`).join(', ');
      const reached =
        c.reached === undefined
          ? ''
          : `; ${c.reached.what}: of each 100,000 sent, ${SSH_JUNK_KINDS.map((k) => `${k} ${fmt(ssh.reached[k], 0)}`).join(', ')}; of the SSH flood's ${fmt(ssh.flood.sent, 0)}, ${fmt(ssh.flood.reached, 0)}`;
      notes.push(`- ${c.name}, SSH key (${sshUser?.fingerprint ?? '?'}, Ed25519 through ssh-agent): junk sent at ${rates}${reached}`);
    }
    for (const n of names) notes.push(`- ${n} measured as ${(all.get(n) as Figures).process}`);
    notes.push(...clusterNotes);

    console.log(`\n${machine}\n${settings}\n`);
    // A run of the rate table (or the cluster rows) alone has nothing in the main table.
    if (['connect', 'activation', 'cpu', 'flood', 'probe', 'ssh'].some((x) => o.figures.has(x as FigureName)))
      console.log(textTable(header, rows));
    if (cluster !== undefined)
      console.log(`\n${textTable(CLUSTER_HEADER, clusterRows(cluster))}\n\n${textTable(REDIS_HEADER, redisRows(cluster))}`);
    const rateCells = names.flatMap((n) => (all.get(n) as Figures).rates);
    if (rateCells.length > 0) console.log(`\n${textTable(RATE_HEADER, rateRows(rateCells))}`);
    console.log(`\n${notes.join('\n')}`);
    if (o.readme) {
      const date = new Date().toISOString().slice(0, 10);
      addResults(
        README,
        `### ${date}: ${machine}\n\n${settings}.\n\n${markdownTable(header, rows)}\n\nClient start-up, wall time (${STARTUP_RUNS} runs):\n\n${markdownTable(['command', 'p50 (ms)', 'p90 (ms)'], startup)}\n\n${rateSection(rateCells, o)}${clusterSection(cluster)}${notes.join('\n')}\n`,
      );
      console.log(`\nresults added to ${README}`);
    }
  } finally {
    await agent?.exit();
    await net.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
