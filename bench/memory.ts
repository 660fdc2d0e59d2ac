/**
 * `npm run bench:memory`: the memory the daemon's bounded tables take when an attacker fills
 * them to their caps, measured in process with the daemon's own classes: the replay guard
 * (replay_capacity ids, which only holders of valid keys can fill), the authentication budget's
 * per-source table, the reject log's per-source buckets, and a save of the full state file (its
 * snapshot and JSON text, transient). Run with --expose-gc (the npm script does) so figures are live memory.
 *   node --expose-gc dist/bench/memory.js [replay_capacity, default 100000]
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { formatIpv6 } from '../src/protocol/address.js';
import { Keyring, ReplayGuard, sealPacket, Verifier, type KnockFields, type UserKey } from '../src/protocol/index.js';
import { AuthBudget, MAX_SOURCES } from '../src/server/intake/auth-budget.js';
import { RejectLog } from '../src/server/intake/reject-log.js';
import { StateStore, STATE_VERSION } from '../src/server/state/state.js';
import { fmt, textTable } from './report.js';

const capacity = Number(process.argv[2] ?? 100_000);
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const SERVER = 'memory.bench';
const gc = (globalThis as { gc?: () => void }).gc;

/** RSS and live JS heap in MB, after a full collection. */
function usage(): { rss: number; heap: number } {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20 };
}

function peakMb(): number {
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
}

/** A source address with the longest text an address can have (a full IPv6 one), distinct per i, made as the pcap listener makes it. */
function longIpv6(i: number): string {
  const bytes = new Uint8Array(16).fill(0xee);
  new DataView(bytes.buffer).setUint32(12, i);
  return formatIpv6(bytes, 0);
}

async function main(): Promise<void> {
  if (gc === undefined) console.log('(run with node --expose-gc for steadier figures)');
  const rows: string[][] = [];
  let last = usage();
  const baseline = last;
  const step = (what: string, entries: string): void => {
    const now = usage();
    rows.push([what, entries, fmt(now.heap - last.heap), fmt(now.rss - last.rss)]);
    last = now;
  };

  // Filled the only way it can be: with valid packets, verified. The per-key quota (capacity / 16)
  // means it takes 16 keys; ids are what the verifier stores (hex of key id || nonce).
  const keyring = new Keyring();
  const keys: UserKey[] = Array.from({ length: 16 }, (_, i) => ({
    user: `user${i}`,
    keyId: randomBytes(8),
    serverId: SERVER,
    secret: randomBytes(32),
    created: '2025-01-01T00:00:00Z',
  }));
  for (const key of keys) keyring.add(key);
  const replay = new ReplayGuard(capacity);
  const verifier = new Verifier({ keyring, serverId: SERVER, maxSkewMs: 30_000, replay });
  const fields: KnockFields = { timestampMs: NOW, action: 'open', ports: [{ proto: 'tcp', port: 22 }], allowIp: null, durationSec: 0 };
  for (let i = 0; replay.size < capacity && i < 2 * capacity; i++)
    verifier.verify(sealPacket(keys[i % keys.length] as UserKey, fields, randomBytes(24)), NOW);
  step('replay guard, full (valid packets only)', `${replay.size.toLocaleString('en-US')} ids`);

  const budget = new AuthBudget({ now: () => NOW });
  for (let i = 0; i < MAX_SOURCES * 2; i++) budget.failed(longIpv6(i));
  step('authentication budget, full', `${budget.size.toLocaleString('en-US')} sources`);

  const rejects = new RejectLog(pino({ level: 'silent' }), () => NOW);
  for (let i = 0; i < 40_000; i++) rejects.reject('bad-mac', longIpv6(i));
  step('reject log buckets, full', '10,000 sources');

  // A save of the full guard, as the daemon makes one: its snapshot arrays and JSON text are garbage
  // after it (the bytes go out through StateStore's 1 MiB write buffer); the peak holds them.
  const peakBeforeSave = peakMb();
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-memory-'));
  try {
    const store = new StateStore(dir);
    store.save({ version: STATE_VERSION, replay: replay.toState(), grants: [], maxSkewMs: 30_000, notBeforeMs: 0 });
    step('state file saved (text transient; 1 MiB write buffer kept)', `${fmt(statSync(store.file).size / 2 ** 20)} MB file`);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(`node ${process.version}; baseline: RSS ${fmt(baseline.rss)} MB, JS heap ${fmt(baseline.heap)} MB (server modules loaded)\n`);
  console.log(textTable(['table', 'entries', 'live heap added (MB)', 'RSS added (MB)'], rows));
  console.log(`\nRSS now ${fmt(usage().rss)} MB, peak (VmHWM) ${fmt(peakMb())} MB (${fmt(peakBeforeSave)} MB before the save)`);
}

await main();
