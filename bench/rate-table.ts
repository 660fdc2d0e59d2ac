/**
 * The rate table of `npm run bench --figures rates` (issue 22): how a daemon's CPU and its valid
 * knocks fare as the junk rate grows. For each contender, rate and junk kind, one short cell in
 * two phases, both fed by the fast C sender (bench/junk-sender.c, sendmmsg) from the 64 flood
 * addresses:
 *   1. junk alone for `seconds`: the daemon's CPU (utime + stime, 10 ms ticks) per 100,000 sent,
 *      and how many reached its socket where that can be known;
 *   2. junk again for `seconds`, while valid knocks are sent one after another from other
 *      addresses (a fresh one each, so no close is needed mid-flood): how many opened port 22
 *      within KNOCK_TIMEOUT_MS, their activation p50, the socket-buffer drops in the server
 *      namespace (Udp RcvbufErrors) and the machine's idle CPU meanwhile (who starves whom).
 * Knocking is kept out of phase 1 so a knock's own cost is not counted as junk's.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestNet } from '../test/lab/netns.js';
import { runOk, sleep } from '../test/lab/process.js';
import { writePayloads } from '../test/support/junk.js';
import type { RaceAnswer } from './agent.js';
import { JUNK_KINDS, type Contender, type JunkKind } from './contenders.js';
import { startFastFlood } from './fast-sender.js';
import { cpuSeconds, waitIdle } from './procfs.js';
import { fmt, percentile, type Table } from './report.js';

/** Valid knocks under the flood come from these (one each, in turn), apart from the flood's sources. */
export const KNOCK_SOURCES = Array.from({ length: 80 }, (_, i) => `198.18.0.${170 + i}`);
/** A valid knock that has not opened port 22 by then counts as lost. */
const KNOCK_TIMEOUT_MS = 2_000;
/** Pause between one knock's answer and the next knock. */
const KNOCK_GAP_MS = 50;
/** Junk kinds per contender: a bad tag means something only where a key id travels in clear. */
const kindsFor = (c: Contender): readonly JunkKind[] =>
  c.name.startsWith('knockspa') ? JUNK_KINDS : JUNK_KINDS.filter((k) => k !== 'bad-tag');

export interface RateOptions {
  readonly net: TestNet;
  readonly dir: string;
  /** The fast sender's binary (bench/fast-sender.ts buildFastSender). */
  readonly sender: string;
  readonly sources: readonly string[];
  /** Packets/s asked of the sender; 0: as fast as it goes. */
  readonly rates: readonly number[];
  /** Length of each phase of a cell. */
  readonly seconds: number;
  /** Sends a valid knock from `from` and races a connect to port 22 (compare.ts's activation). */
  activate(from: string, timeoutMs: number): Promise<RaceAnswer>;
}

export interface RateCell {
  readonly contender: string;
  readonly kind: JunkKind;
  readonly rateAsked: number;
  /** Phase 1 (junk alone). */
  readonly pps: number;
  readonly sent: number;
  readonly cpuPer100k: number;
  readonly reached: number;
  /** Phase 2 (junk and knocks). */
  readonly floodPps: number;
  readonly senderDropped: number;
  readonly knocks: number;
  readonly knocksOk: number;
  readonly activation: readonly number[];
  readonly rcvbufErrors: number;
  /** Idle share of all CPUs during phase 2, in %. */
  readonly idlePct: number;
}

/** Idle and total jiffies of all CPUs (/proc/stat): the same in every namespace. */
function cpuTimes(): { idle: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) };
}

/** A counter of the server namespace's UDP statistics (/proc/net/snmp, e.g. RcvbufErrors). */
async function udpCounter(net: TestNet, name: string): Promise<number> {
  const lines = (await runOk(net.srv, ['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = (lines[0] ?? '').split(/\s+/);
  return Number((lines[1] ?? '').split(/\s+/)[names.indexOf(name)]);
}

/**
 * The contender's count of packets that reached it, once it stops moving: fwknopd's comes from its
 * log, which trails the packets by up to seconds (it had counted a previous cell's junk in the next).
 */
async function settledReached(c: Contender): Promise<number | undefined> {
  if (c.reached === undefined) return undefined;
  let last = await c.reached.count();
  for (let i = 0; i < 20; i++) {
    await sleep(300);
    const now = await c.reached.count();
    if (now === last) return now;
    last = now;
  }
  return last;
}

async function measureCell(c: Contender, o: RateOptions, kind: JunkKind, rate: number, nextSource: () => string): Promise<RateCell> {
  const junk = c.junk(kind, 256);
  const file = writePayloads(join(o.dir, `rate-${kind}.hex`), junk.payloads);
  // Bounded by time; the count only keeps a runaway sender in check.
  const flood = { host: o.net.serverV4, port: junk.port, payloads: file, rate, seconds: o.seconds, count: 50_000_000, sources: o.sources };

  await waitIdle(c.pid);
  const cpuBefore = cpuSeconds(c.pid);
  const reachedBefore = await settledReached(c);
  const alone = await startFastFlood(o.net, o.net.cli, o.sender, flood).result;
  await waitIdle(c.pid);
  const cpuPer100k = ((cpuSeconds(c.pid) - cpuBefore) * 100_000) / Math.max(1, alone.sent);
  const reached = reachedBefore === undefined ? NaN : ((await settledReached(c)) ?? NaN) - reachedBefore;

  const rcvbufBefore = await udpCounter(o.net, 'RcvbufErrors');
  const used: string[] = [];
  const activation: number[] = [];
  let knocks = 0;
  const times = cpuTimes();
  const running = startFastFlood(o.net, o.net.cli, o.sender, flood);
  let done = false;
  void running.result.finally(() => (done = true)).catch(() => undefined);
  await sleep(200); // the sender's sockets are up and the flood is on
  while (!done) {
    const from = nextSource();
    used.push(from);
    knocks++;
    const r = await o.activate(from, KNOCK_TIMEOUT_MS);
    if (r.ok && r.ms !== null) activation.push(r.ms);
    await sleep(KNOCK_GAP_MS);
  }
  const withKnocks = await running.result;
  const after = cpuTimes();
  const rcvbufErrors = (await udpCounter(o.net, 'RcvbufErrors')) - rcvbufBefore;
  await waitIdle(c.pid);
  // The flood is over: take the grants away (a knock that came late is closed too); each address
  // is its own grant, so all at once.
  await Promise.all(used.map((ip) => c.close(ip)));
  const cell: RateCell = {
    contender: c.name,
    kind,
    rateAsked: rate,
    pps: alone.pps,
    sent: alone.sent,
    cpuPer100k,
    reached,
    floodPps: withKnocks.pps,
    senderDropped: withKnocks.dropped,
    knocks,
    knocksOk: activation.length,
    activation,
    rcvbufErrors,
    idlePct: (100 * (after.idle - times.idle)) / Math.max(1, after.total - times.total),
  };
  process.stdout.write(`  ${rateLabel(rate)} ${kind}: ${cellSummary(cell)}\n`);
  return cell;
}

const rateLabel = (rate: number): string => (rate === 0 ? 'full speed' : `${fmt(rate, 0)}/s`);

function cellSummary(x: RateCell): string {
  const reached = Number.isNaN(x.reached) ? '' : `, ${fmt(x.reached, 0)} reached it`;
  return (
    `${fmt(x.cpuPer100k, 3)} CPU s per 100k (sent ${fmt(x.sent, 0)} at ${fmt(x.pps, 0)}/s${reached}); ` +
    `under ${fmt(x.floodPps, 0)}/s: ${x.knocksOk}/${x.knocks} knocks ok, p50 ${fmt(percentile(x.activation, 50), 2)} ms, ` +
    `${fmt(x.rcvbufErrors, 0)} socket-buffer drops, sender refused ${fmt(x.senderDropped, 0)}, idle ${fmt(x.idlePct, 0)} %`
  );
}

/** Unmeasured junk before the first cell, so no cell pays the daemon's warm-up (JIT, first buffers). */
const WARM_UP = { rate: 20_000, seconds: 1 };

/** Every rate and junk kind for one running contender (compare.ts starts and stops it). */
export async function measureRates(c: Contender, o: RateOptions): Promise<RateCell[]> {
  const kinds = kindsFor(c);
  const warm = c.junk(kinds[kinds.length - 1] as JunkKind, 256);
  const payloads = writePayloads(join(o.dir, 'rate-warm-up.hex'), warm.payloads);
  await startFastFlood(o.net, o.net.cli, o.sender, { host: o.net.serverV4, port: warm.port, payloads, sources: o.sources, ...WARM_UP })
    .result;
  let next = 0;
  const nextSource = (): string => KNOCK_SOURCES[next++ % KNOCK_SOURCES.length] as string;
  const cells: RateCell[] = [];
  for (const rate of o.rates) for (const kind of kinds) cells.push(await measureCell(c, o, kind, rate, nextSource));
  return cells;
}

export const RATE_HEADER = [
  'contender',
  'junk',
  'rate asked',
  'junk alone: sent/s',
  'reached the daemon',
  'daemon CPU s / 100k',
  'with knocks: sent/s',
  'valid knocks ok',
  'activation p50 (ms)',
  'socket-buffer drops',
  'idle CPU (%)',
];

export function rateRows(cells: readonly RateCell[]): Table {
  return cells.map((x) => [
    x.contender,
    x.kind,
    rateLabel(x.rateAsked),
    fmt(x.pps, 0),
    Number.isNaN(x.reached) ? '-' : `${fmt((100 * x.reached) / Math.max(1, x.sent), 0)} %`,
    fmt(x.cpuPer100k, 3),
    fmt(x.floodPps, 0),
    `${x.knocksOk}/${x.knocks}`,
    fmt(percentile(x.activation, 50), 1),
    fmt(x.rcvbufErrors, 0),
    fmt(x.idlePct, 0),
  ]);
}
