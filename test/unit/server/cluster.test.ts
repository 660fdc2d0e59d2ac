// [cluster]: the table's checks, the stream entries' encoding, the group replay claim's outage
// rules (against a fake link), and that a server without [cluster] loads no Redis client.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../../../src/server/config/config.js';
import type { RedisLink } from '../../../src/server/cluster/connection.js';
import { sharedEvents } from '../../../src/server/cluster/cluster.js';
import { decodeEvent, encodeEvent, GrantStream, type SharedEvent } from '../../../src/server/cluster/grant-stream.js';
import type { BookEvent, GrantRequest } from '../../../src/server/grants/applier.js';
import { ReplayClaims } from '../../../src/server/cluster/replay-claim.js';
import { assertConfigError } from '../../support/config-error.js';
import { REPO_ROOT } from '../../support/knockspa.js';

const BASE = `
server_id = "srv.test"
[users.alice]
ports = ["tcp/22"]
`;

function configWith(cluster: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cluster-'));
  const file = join(dir, 'server.toml');
  writeFileSync(file, `${BASE}\n[cluster]\n${cluster}\n`);
  return file;
}

test('without [cluster] the config has none; with it, the defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cluster-'));
  writeFileSync(join(dir, 'server.toml'), BASE);
  assert.equal(loadConfig(join(dir, 'server.toml')).cluster, undefined);
  const c = loadConfig(configWith('redis = "redis://10.0.0.1:6379/0"\ngateway = "gw1"')).cluster;
  assert.deepEqual(c, {
    url: 'redis://10.0.0.1:6379/0',
    passwordFile: undefined,
    name: 'knockspa',
    gateway: 'gw1',
    grants: 'everywhere',
    onRedisDown: 'refuse',
    timeoutMs: 250,
  });
});

test('sentinels and sentinel_name instead of redis', () => {
  const c = loadConfig(
    configWith('sentinels = ["10.0.0.1:26379", "[fd00::2]:26380"]\nsentinel_name = "mymaster"\ngateway = "gw1"'),
  ).cluster;
  assert.deepEqual(c?.sentinels, [
    { host: '10.0.0.1', port: 26379 },
    { host: 'fd00::2', port: 26380 },
  ]);
  assert.equal(c?.sentinelName, 'mymaster');
  assert.equal(c?.url, 'sentinel://10.0.0.1:26379,[fd00::2]:26380/mymaster');
});

test('bad [cluster] tables name the key and what was expected', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['gateway = "a"', 'cluster.redis', /a URL like "redis:\/\/HOST:6379\/0"/],
    ['redis = "http://x:1"', 'cluster.redis', /rediss:\/\/ for TLS/],
    ['redis = "redis://x"\ngrants = "some"', 'cluster.grants', /one of "everywhere", "here"/],
    ['redis = "redis://x"\non_redis_down = "ignore"', 'cluster.on_redis_down', /one of "refuse", "local"/],
    ['redis = "redis://x"\nname = "a b*"', 'cluster.name', /key prefix/],
    ['redis = "redis://x"\ntimeout_ms = 0', 'cluster.timeout_ms', /integer from 5 to 10000/],
    ['redis = "redis://x"\nsentinel = true', 'cluster.sentinel', /unknown key/],
    ['redis = "redis://x"\npassword_file = "missing.pass"', 'cluster.password_file', /readable file holding the Redis password/],
    ['redis = "redis://x"\nsentinels = ["s1:26379"]\nsentinel_name = "m"', 'cluster.sentinels', /either redis or sentinels/],
    ['sentinels = ["s1:26379"]', 'cluster.sentinel_name', /need the name Sentinel knows the primary by/],
    ['sentinel_name = "m"', 'cluster.sentinels', /sentinel_name needs sentinels = \["HOST:26379", \.\.\.\]/],
    ['sentinels = []\nsentinel_name = "m"', 'cluster.sentinels', /a list of 1 to 16 "HOST:PORT" strings/],
    ['sentinels = ["s1"]\nsentinel_name = "m"', 'cluster.sentinels', /"HOST:PORT" strings .*got "s1"/],
    ['sentinels = ["s1:70000"]\nsentinel_name = "m"', 'cluster.sentinels', /got "s1:70000"/],
    ['sentinels = ["s1:26379"]\nsentinel_name = "a b"', 'cluster.sentinel_name', /the primary's name in Sentinel/],
  ];
  for (const [table, key, expected] of cases) {
    const file = configWith(table);
    assertConfigError(() => loadConfig(file), file, key, expected);
  }
});

test('a password file others can read is refused; 0600 is taken', () => {
  const file = configWith('redis = "redis://x"\npassword_file = "redis.pass"');
  const pass = join(dirname(file), 'redis.pass');
  writeFileSync(pass, 'secret\n');
  chmodSync(pass, 0o644);
  assertConfigError(() => loadConfig(file), file, 'cluster.password_file', /only its owner can read \(chmod 600 .*\), got mode 644/);
  chmodSync(pass, 0o600);
  assert.equal(loadConfig(file).cluster?.passwordFile, pass);
});

test('stream entries: what is encoded decodes the same; foreign entries are refused', () => {
  const e: SharedEvent = {
    origin: 'gw-a',
    kind: 'open',
    grant: { user: 'alice', ip: '198.18.0.2', family: 4, proto: 'tcp', port: 22 },
    deadlineMs: 1_800_000_000_123,
  };
  assert.deepEqual(decodeEvent(encodeEvent(e)), e);
  const fields = encodeEvent(e);
  const withField = (name: string, value: string): string[] => fields.map((f, i) => (fields[i - 1] === name ? value : f));
  assert.equal(decodeEvent(withField('port', '70000')), undefined);
  assert.equal(decodeEvent(withField('proto', 'icmp')), undefined);
  assert.equal(decodeEvent(withField('kind', 'flush')), undefined);
  assert.equal(decodeEvent(withField('family', '5')), undefined);
  assert.equal(decodeEvent(['origin', 'x']), undefined);
});

test('close entries carry why: an admin close round-trips, an entry without why is a knock, another why is refused', () => {
  const grant = { user: 'alice', ip: '198.18.0.2', family: 4, proto: 'tcp', port: 22 } as const;
  const admin: SharedEvent = { origin: 'gw-a', kind: 'close', grant, deadlineMs: 0, why: 'admin' };
  const fields = encodeEvent(admin);
  assert.deepEqual(fields.slice(-2), ['why', 'admin']);
  assert.deepEqual(decodeEvent(fields), admin);
  assert.deepEqual(decodeEvent(fields.slice(0, -2)), { ...admin, why: 'knock' });
  assert.equal(decodeEvent([...fields.slice(0, -2), 'why', 'shutdown']), undefined);
  assert.equal(encodeEvent({ origin: 'gw-a', kind: 'open', grant, deadlineMs: 5 }).includes('why'), false);
});

test('the group hears opens, close knocks and admin closes that took effect; other closes stay here', () => {
  const grant = (port: number): GrantRequest => ({ user: 'alice', ip: '198.18.0.2', family: 4, proto: 'tcp', port });
  const events: BookEvent[] = [
    { kind: 'open', grant: grant(1), durationSec: 60 },
    { kind: 'open', grant: grant(2), durationSec: 60, deadlineMs: 9_000 },
    { kind: 'close', grant: grant(3), why: 'knock' },
    { kind: 'close', grant: grant(4), why: 'admin' },
    { kind: 'close', grant: grant(5), why: 'shutdown' },
    { kind: 'close', grant: grant(6), why: 'revoked' },
    { kind: 'close', grant: grant(7), why: 'timeout' },
    { kind: 'expire', grant: grant(8) },
    { kind: 'close', grant: grant(9), why: 'admin' },
  ];
  const results = [true, true, true, true, true, true, true, true, false];
  assert.deepEqual(sharedEvents('gw-a', events, results, 1_000), [
    { origin: 'gw-a', kind: 'open', grant: grant(1), deadlineMs: 61_000 },
    { origin: 'gw-a', kind: 'open', grant: grant(2), deadlineMs: 9_000 },
    { origin: 'gw-a', kind: 'close', grant: grant(3), deadlineMs: 0, why: 'knock' },
    { origin: 'gw-a', kind: 'close', grant: grant(4), deadlineMs: 0, why: 'admin' },
  ]);
});

/** A reader that hands out one XREAD reply, then answers nothing (as BLOCK would). */
class StreamLink implements RedisLink {
  readonly ready = true;
  constructor(private replies: unknown[]) {}
  call<T>(args: readonly string[]): Promise<T> {
    if (args[0] !== 'XREAD') return Promise.resolve('OK' as T);
    const reply = this.replies.shift();
    return reply === undefined ? new Promise((r) => setTimeout(() => r(null as T), 10)) : Promise.resolve(reply as T);
  }
  duplicate(): Promise<RedisLink> {
    return Promise.resolve(this);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

test("another gateway's admin close is applied here as an admin close; this gateway's own entries are skipped", async () => {
  const grant: GrantRequest = { user: 'alice', ip: '198.18.0.2', family: 4, proto: 'tcp', port: 22 };
  const entries = [
    ['1-0', encodeEvent({ origin: 'gw-a', kind: 'close', grant, deadlineMs: 0, why: 'admin' })],
    ['2-0', encodeEvent({ origin: 'gw-b', kind: 'close', grant: { ...grant, port: 23 }, deadlineMs: 0, why: 'admin' })],
    ['3-0', encodeEvent({ origin: 'gw-a', kind: 'close', grant: { ...grant, port: 24 }, deadlineMs: 0 })],
  ];
  const submitted: BookEvent[][] = [];
  let seen: () => void = () => {};
  const applied = new Promise<void>((r) => (seen = r));
  const stream = new GrantStream({
    publisher: new StreamLink([[['grp:grants', entries]]]),
    prefix: 'grp',
    gateway: 'gw-b',
    log: pino({ enabled: false }),
    now: () => 1_000,
    submit: (events) => {
      submitted.push([...events]);
      seen();
      return Promise.resolve(events.map(() => true));
    },
    allowed: () => true,
    lookbackMs: 60_000,
  });
  await stream.start();
  await applied;
  await stream.stop();
  assert.deepEqual(submitted, [
    [
      { kind: 'close', grant, why: 'admin' },
      { kind: 'close', grant: { ...grant, port: 24 }, why: 'knock' },
    ],
  ]);
});

/** A link that answers SET NX like Redis, or fails when `up` is false. */
class FakeLink implements RedisLink {
  up = true;
  readonly keys = new Map<string, number>();
  calls: string[][] = [];
  /** Called once at the next SET, before it is answered (a packet arriving mid-write-back). */
  beforeSet: (() => void) | undefined;
  get ready(): boolean {
    return this.up;
  }
  call<T>(args: readonly string[]): Promise<T> {
    this.calls.push([...args]);
    if (!this.up) return Promise.reject(new Error('not connected to Redis'));
    if (args[0] === 'PING') return Promise.resolve('PONG' as T);
    const hook = this.beforeSet;
    this.beforeSet = undefined;
    hook?.();
    const key = args[1] as string;
    if (this.keys.has(key)) return Promise.resolve(null as T);
    this.keys.set(key, Number(args[5]));
    return Promise.resolve('OK' as T);
  }
  duplicate(): Promise<RedisLink> {
    return Promise.resolve(this);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function claims(link: FakeLink, onDown: 'refuse' | 'local', clock: { t: number }): ReplayClaims {
  return new ReplayClaims({ link, prefix: 'grp', onDown, log: pino({ enabled: false }), now: () => clock.t, windowMs: () => 30_000 });
}

test('group claims: the first is ok, the same id again is a replay, keyed under the prefix with the window left', async () => {
  const link = new FakeLink();
  const clock = { t: 1_000_000 };
  const c = claims(link, 'refuse', clock);
  assert.equal(await c.claim('ab12', clock.t - 10_000), 'ok');
  assert.equal(await c.claim('ab12', clock.t - 10_000), 'replay');
  assert.deepEqual(link.calls[0], ['SET', 'grp:replay:ab12', '1', 'NX', 'PX', '20000']);
  c.stop();
});

test('refuse: while Redis cannot answer every knock is cluster-unavailable, with no call on the packet path', async () => {
  const link = new FakeLink();
  const clock = { t: 1_000_000 };
  const c = claims(link, 'refuse', clock);
  link.up = false;
  assert.equal(await c.claim('a1', clock.t), 'cluster-unavailable');
  const calls = link.calls.length;
  assert.equal(await c.claim('a2', clock.t + 60_000), 'cluster-unavailable');
  assert.equal(link.calls.length, calls, 'no Redis call while down: the probe finds out when it is back');
  c.stop();
});

test('local: packets stamped before the outage plus the window are refused; later ones pass and are written back', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const link = new FakeLink();
  const clock = { t: 1_000_000 };
  const c = claims(link, 'local', clock);
  link.up = false;
  assert.equal(await c.claim('before', clock.t - 5_000), 'stale-outage', 'stamped before the outage');
  assert.equal(await c.claim('ahead', clock.t + 29_000), 'stale-outage', 'stamped within the window after it began');
  clock.t += 31_000;
  assert.equal(await c.claim('fresh', clock.t), 'ok');
  assert.equal(c.down, true);
  link.up = true;
  t.mock.timers.tick(1_000);
  for (let i = 0; i < 10 && c.down; i++) await new Promise((r) => setImmediate(r));
  assert.equal(c.down, false, 'the probe found Redis back');
  assert.ok(link.keys.has('grp:replay:fresh'), 'the claim made during the outage is in Redis now');
  assert.equal(await c.claim('fresh', clock.t), 'replay');
  c.stop();
});

test('local: a packet accepted while the write-back runs is written back too; one claimed elsewhere meanwhile is logged', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const link = new FakeLink();
  const clock = { t: 1_000_000 };
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  const c = new ReplayClaims({ link, prefix: 'grp', onDown: 'local', log, now: () => clock.t, windowMs: () => 30_000 });
  link.up = false;
  assert.equal(await c.claim('first', clock.t), 'stale-outage');
  clock.t += 31_000;
  assert.equal(await c.claim('during', clock.t), 'ok');
  // Another gateway claimed the same packet in Redis meanwhile (it was replayed there).
  link.keys.set('grp:replay:during', 1);
  assert.equal(await c.claim('also', clock.t), 'ok');
  link.up = true;
  let late: Promise<string> | undefined;
  link.beforeSet = () => {
    late = c.claim('late', clock.t);
  };
  t.mock.timers.tick(1_000);
  for (let i = 0; i < 20 && c.down; i++) await new Promise((r) => setImmediate(r));
  assert.equal(c.down, false, 'the probe found Redis back');
  assert.equal(await late, 'ok', 'accepted on the local cache: the outage had not ended yet');
  assert.ok(link.keys.has('grp:replay:late'), 'the claim made during the write-back is in Redis too');
  assert.ok(link.keys.has('grp:replay:also'));
  const elsewhere = lines.filter((l) => l.event === 'cluster-claimed-elsewhere');
  assert.deepEqual(
    elsewhere.map((l) => [l.count, l.packets]),
    [[1, ['during']]],
  );
  c.stop();
});

test('every cluster-* log event the code writes has a row in docs/operations.md, and every row is one the code writes', () => {
  const dir = join(REPO_ROOT, 'src', 'server', 'cluster');
  const code = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  const written = new Set([...code.matchAll(/event: '(cluster-[a-z-]+)'/g)].map((m) => m[1] as string));
  const docs = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const rows = new Set([...docs.matchAll(/^\| `(cluster-[a-z-]+)` \|/gm)].map((m) => m[1] as string));
  assert.ok(written.size >= 10, `found the events in the code: ${[...written].join(', ')}`);
  assert.deepEqual([...written].sort(), [...rows].sort());
});

test('a server without [cluster] does not load the Redis client', async () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const command = resolve(here, '../../../src/knockspa.cjs');
  const trace = resolve(here, '../../support/load-trace.js');
  const stderr = await new Promise<string>((done) =>
    execFile(
      process.execPath,
      ['--import', trace, command, 'server', '--config', '/nonexistent.toml'],
      { timeout: 20_000 },
      (_e, _o, err) => done(err),
    ),
  );
  const files = stderr.split('\n').filter((l) => l.startsWith('LOAD '));
  assert.ok(
    files.some((f) => f.includes('/dist/src/server/daemon.js')),
    'the check can fail: the daemon module is loaded',
  );
  assert.deepEqual(
    files.filter((f) => f.includes('/@redis/') || /\/server\/cluster\/(?!settings\.js)/.test(f)),
    [],
  );
});
