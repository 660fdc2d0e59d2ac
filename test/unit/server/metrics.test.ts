// Metrics: the [metrics] config (clear errors naming file and key), log events moving the
// counters (rejects held back in a flood counted from the summary), and the exporter serving the
// Prometheus text format over HTTP and writing the textfile atomically.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { validateConfig } from '../../../src/server/config/config.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { startMetrics } from '../../../src/server/metrics/exporter.js';
import { countLogEvent } from '../../../src/server/metrics/log-events.js';
import { parseHostPort } from '../../../src/server/metrics/metrics-config.js';
import { MetricsRegistry } from '../../../src/server/metrics/registry.js';

const FILE = '/etc/knockspa/server.toml';
const config = (metrics: unknown): ReturnType<typeof validateConfig> =>
  validateConfig(FILE, { firewall: 'dry-run', ...(metrics === undefined ? {} : { metrics }) });

/** The value of one sample line `name{labels} value` in the text format; undefined if absent. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

test('[metrics]: off when absent; listen and textfile read; mistakes name the file and key', () => {
  assert.equal(config(undefined).metrics, undefined);
  assert.deepEqual(config({ listen: '127.0.0.1:9733' }).metrics, { listen: { host: '127.0.0.1', port: 9733 }, textfileIntervalSec: 15 });
  assert.deepEqual(config({ textfile: '/var/lib/node_exporter/textfile_collector/knockspa.prom', textfile_interval: 60 }).metrics, {
    textfile: '/var/lib/node_exporter/textfile_collector/knockspa.prom',
    textfileIntervalSec: 60,
  });
  assert.deepEqual(parseHostPort('[::1]:9733'), { host: '::1', port: 9733 });
  const bad: [unknown, RegExp][] = [
    [{ listen: '9733' }, /metrics\.listen: expected an address and port like "127\.0\.0\.1:9733"/],
    [{ listen: 'localhost:9733' }, /metrics\.listen/],
    [{ listen: '127.0.0.1:70000' }, /metrics\.listen/],
    [{ listen: '::1:9733' }, /metrics\.listen/],
    [{ textfile: 'knockspa.prom' }, /metrics\.textfile: expected an absolute path ending in \.prom/],
    [{ textfile: '/tmp/knockspa.txt' }, /metrics\.textfile/],
    [{}, /metrics\.listen: a \[metrics\] table needs listen, textfile or both/],
    [{ listen: '127.0.0.1:1', port: 2 }, /metrics\.port: unknown key/],
    [{ textfile: '/a/b.prom', textfile_interval: 0 }, /metrics\.textfile_interval: expected an integer from 1 to 3600/],
    ['on', /metrics: expected a table/],
  ];
  for (const [metrics, expected] of bad) {
    assert.throws(
      () => config(metrics),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith(FILE) && expected.test(err.message),
      JSON.stringify(metrics),
    );
  }
});

test('log events move the counters they stand for', async () => {
  const m = new MetricsRegistry();
  const events: Record<string, unknown>[] = [
    { event: 'knock', user: 'alice', format: 'knockspa', action: 'open' },
    { event: 'knock', user: 'alice', format: 'knockspa', action: 'close' },
    { event: 'knock', user: 'bob', format: 'fwknop', action: 'open' },
    { event: 'reject', reason: 'bad-mac', source: '198.18.0.9' },
    { event: 'reject-suppressed', count: 12, reasons: { 'bad-mac': 2, 'over-budget': 10 } },
    { event: 'firewall-error', op: 'open' },
    { event: 'firewall-repair', count: 3, grants: [] },
    { event: 'close', why: 'stale' },
    { event: 'close', why: 'admin' },
    { event: 'state-error', error: 'ENOSPC' },
    { event: 'listener-error', reason: 'capture-error' },
    { event: 'listener-recovered', reason: 'capture-error' },
    { event: 'start' },
  ];
  for (const e of events) countLogEvent(m, e);
  m.observe('activationSeconds', 0.004);
  const text = await m.text();
  assert.equal(sample(text, 'knockspa_knocks_accepted_total{user="alice",format="knockspa"}'), 2);
  assert.equal(sample(text, 'knockspa_knocks_accepted_total{user="bob",format="fwknop"}'), 1);
  assert.equal(sample(text, 'knockspa_rejects_total{reason="bad-mac"}'), 3);
  assert.equal(sample(text, 'knockspa_rejects_total{reason="over-budget"}'), undefined, 'over-budget has its own counter');
  assert.equal(sample(text, 'knockspa_over_budget_drops_total'), 10);
  assert.equal(sample(text, 'knockspa_firewall_errors_total{op="open"}'), 1);
  assert.equal(sample(text, 'knockspa_firewall_repairs_total{kind="put-back"}'), 3);
  assert.equal(sample(text, 'knockspa_firewall_repairs_total{kind="stale-removed"}'), 1);
  assert.equal(sample(text, 'knockspa_state_save_failures_total'), 1);
  assert.equal(sample(text, 'knockspa_listener_errors_total{reason="capture-error"}'), 1);
  assert.equal(sample(text, 'knockspa_listener_recoveries_total'), 1);
  assert.equal(sample(text, 'knockspa_listener_down'), 0);
  assert.equal(sample(text, 'knockspa_activation_seconds_bucket{le="0.0025"}'), 0);
  assert.equal(sample(text, 'knockspa_activation_seconds_bucket{le="0.005"}'), 1);
  assert.equal(sample(text, 'knockspa_activation_seconds_count'), 1);
  assert.match(text, /# TYPE knockspa_activation_seconds histogram/);
});

test('exporter: GET /metrics in the text format with fresh gauges; other paths 404; textfile written atomically', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-metrics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const textfile = join(dir, 'knockspa.prom');
  let grants = 3;
  const exporter = await startMetrics(
    FILE,
    { listen: { host: '127.0.0.1', port: 0 }, textfile, textfileIntervalSec: 3600 },
    (m) => {
      m.set('liveGrants', grants);
      m.set('listenerLastPacket', 1_700_000_000);
    },
    pino({ enabled: false }),
  );
  try {
    assert.equal(sample(readFileSync(textfile, 'utf8'), 'knockspa_live_grants'), 3, 'written at start');
    assert.deepEqual(readdirSync(dir), ['knockspa.prom'], 'no temporary file left');
    const base = `http://127.0.0.1:${exporter.port}`;
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    assert.equal(sample(body, 'knockspa_live_grants'), 3);
    assert.equal(sample(body, 'knockspa_listener_last_packet_timestamp_seconds'), 1_700_000_000);
    assert.match(body, /# HELP knockspa_rejects_total Packets rejected, by reason/);
    assert.equal((await fetch(`${base}/`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 404);
  } finally {
    grants = 1;
    await exporter.stop();
  }
  assert.equal(sample(readFileSync(textfile, 'utf8'), 'knockspa_live_grants'), 1, 'written once more at stop');
  assert.equal(existsSync(`${textfile}.${process.pid}.tmp`), false);
});

test('screen reading: the kernel counters move the metric by what they grew; a reset counts afresh; one read at a time', async () => {
  const { screenReading, SCREEN_READ_MIN_AGE_MS } = await import('../../../src/server/metrics/screen-reading.js');
  const metrics = new MetricsRegistry();
  let clock = 0;
  let reads = 0;
  const answers: (Record<'length' | 'magic' | 'key_id', number> | null | Error)[] = [
    { length: 5, magic: 2, key_id: 0 },
    { length: 9, magic: 2, key_id: 4 },
    null, // taken out: the metric stays
    { length: 1, magic: 0, key_id: 0 }, // put back with fresh counters
    new Error('nft: permission denied'),
  ];
  const read = screenReading(
    async () => {
      reads++;
      const a = answers.shift();
      if (a instanceof Error) throw a;
      return a ?? null;
    },
    pino({ enabled: false }),
    () => clock,
  );
  const values = async (): Promise<(number | undefined)[]> => {
    const text = await metrics.text();
    return ['length', 'magic', 'key_id'].map((r) => sample(text, `knockspa_screen_dropped_total{reason="${r}"}`));
  };
  await read(metrics);
  assert.deepEqual(await values(), [5, 2, 0]);
  await Promise.all([read(metrics), read(metrics)]);
  assert.equal(reads, 1, 'scrapes within a second share one read');
  clock += SCREEN_READ_MIN_AGE_MS;
  await read(metrics);
  assert.deepEqual(await values(), [9, 2, 4]);
  clock += SCREEN_READ_MIN_AGE_MS;
  await read(metrics);
  assert.deepEqual(await values(), [9, 2, 4], 'screen not in place');
  clock += SCREEN_READ_MIN_AGE_MS;
  await read(metrics);
  assert.deepEqual(await values(), [10, 2, 4], 'fresh counters: all they hold is new');
  clock += SCREEN_READ_MIN_AGE_MS;
  await read(metrics);
  assert.deepEqual(await values(), [10, 2, 4], 'a failed read changes nothing');
  assert.equal(reads, 5);
});
