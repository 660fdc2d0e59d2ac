// State store: round trip, mode 0600, atomic replace, failed saves throw, corrupt files set aside, boot id.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { frame, SLICE_UNITS, StateStore, type DaemonState } from '../../../src/server/state/state.js';
import { FileRefused } from '../../../src/server/own-files.js';

function state(n: number): DaemonState {
  return {
    version: 2,
    maxSkewMs: 30_000,
    notBeforeMs: 0,
    replay: { version: 1, entries: [[`id${n}`, 1_800_000_000_000 + n]] },
    grants: [{ user: 'alice', ip: '198.18.0.2', family: 4, proto: 'tcp', port: 22, deadlineMs: 1_800_000_030_000 + n }],
  };
}

test('saves and loads back, mode 0600, no temp file left', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'knockspa-state-')), 'state');
  const store = new StateStore(dir);
  assert.deepEqual(store.load(), { kind: 'missing' });
  store.prepare();
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  store.save(state(1));
  assert.deepEqual(store.load(), { kind: 'ok', state: state(1) });
  assert.equal(statSync(store.file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['state.json']);
});

test('a corrupt file is moved aside and reported, not trusted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-state-'));
  const store = new StateStore(dir);
  for (const bad of [
    '{not json',
    frame('{"version":3,"replay":{},"grants":[],"maxSkewMs":30000,"notBeforeMs":0}'),
    frame('{"version":2,"replay":{},"grants":[{"user":"a"}],"maxSkewMs":30000,"notBeforeMs":0}'),
    JSON.stringify({ ...state(1), version: 1 }),
  ]) {
    writeFileSync(store.file, bad);
    const result = store.load();
    assert.equal(result.kind, 'corrupt', bad);
    assert.ok(result.kind === 'corrupt' && existsSync(result.movedTo) && readFileSync(result.movedTo, 'utf8') === bad);
    assert.equal(existsSync(store.file), false);
  }
});

test('round trip with the boot id, durable (fsync) or not', async () => {
  for (const durable of [false, true]) {
    const dir = mkdtempSync(join(tmpdir(), 'knockspa-state-'));
    const store = new StateStore(dir, { durable });
    const withBoot: DaemonState = { ...state(7), bootId: '0b5e6f1c-1111-4222-8333-944455556666' };
    store.save(withBoot);
    assert.deepEqual(store.load(), { kind: 'ok', state: withBoot }, `durable=${durable}`);
    assert.deepEqual(readdirSync(dir), ['state.json']);
    assert.equal(statSync(store.file).mode & 0o777, 0o600);
  }
});

test('grant records are input: a bad name, a non-canonical or injected address, a wrong family or port makes the file corrupt', () => {
  const store = new StateStore(mkdtempSync(join(tmpdir(), 'knockspa-state-')));
  const good = state(1).grants[0] as DaemonState['grants'][number];
  const bad = [
    { ...good, user: 'Alice Smith' },
    { ...good, ip: '198.18.0.2/32 -j ACCEPT\n-A INPUT -s 0.0.0.0' },
    { ...good, ip: '198.018.0.2' },
    { ...good, family: 6 },
    { ...good, port: 0 },
    { ...good, port: 70000 },
    { ...good, deadlineMs: 1e300 },
  ];
  for (const grant of bad) {
    writeFileSync(store.file, frame(JSON.stringify({ ...state(1), grants: [grant] })));
    assert.equal(store.load().kind, 'corrupt', JSON.stringify(grant));
  }
  writeFileSync(store.file, frame(JSON.stringify(state(1))));
  assert.equal(store.load().kind, 'ok', 'and the check can pass');
});

test('a torn write (the new text over part of a longer old one) reads as corrupt, not as a state', () => {
  const store = new StateStore(mkdtempSync(join(tmpdir(), 'knockspa-state-')));
  const entries = (n: number): DaemonState => ({
    ...state(n),
    replay: { version: 1, entries: Array.from({ length: 200 }, (_, i) => [`id${n}-${i}`, 1_800_000_000_000 + i]) },
  });
  store.save(entries(1));
  store.close();
  const old = readFileSync(store.file, 'utf8');
  const next = frame(JSON.stringify(entries(2)));
  // Entries of one length line up: cut at an entry boundary, the mix is valid JSON of the right shape.
  const cut = next.indexOf('["id2-100"');
  const torn = next.slice(0, cut) + old.slice(cut);
  assert.doesNotThrow(() => JSON.parse(torn.slice(torn.indexOf('"state":') + 8, torn.trimEnd().length - 1)), 'the torn state alone parses');
  writeFileSync(store.file, torn);
  const loaded = store.load();
  assert.equal(loaded.kind, 'corrupt');
  assert.match(loaded.kind === 'corrupt' ? loaded.error : '', /checksum/);
});

test("the state file and its directory must be the daemon's own: a link, a FIFO, a directory others can write are refused", () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-state-'));
  const store = new StateStore(dir);
  const target = join(dir, 'elsewhere');
  writeFileSync(target, frame(JSON.stringify(state(1))), { mode: 0o600 });
  symlinkSync(target, store.file);
  assert.throws(
    () => store.load(),
    (err: unknown) => err instanceof FileRefused && /symbolic link/.test(err.message),
  );
  rmSync(store.file);
  execFileSync('mkfifo', ['-m', '600', store.file]);
  assert.throws(
    () => store.load(),
    (err: unknown) => err instanceof FileRefused && /not a regular file/.test(err.message),
    'refused without blocking',
  );
  rmSync(store.file);
  chmodSync(dir, 0o1777);
  assert.throws(
    () => store.prepare(),
    (err: unknown) => err instanceof FileRefused && /mode 1777.*chmod go-w/.test(err.message),
  );
  chmodSync(dir, 0o700);
  assert.doesNotThrow(() => store.prepare(), 'and the check can pass');
});

test('durable saves never write through a planted link: the temp name is replaced, the link target untouched', () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-state-'));
  const store = new StateStore(dir, { durable: true });
  const victim = join(mkdtempSync(join(tmpdir(), 'knockspa-victim-')), 'passwd');
  writeFileSync(victim, 'root:x:0:0\n');
  symlinkSync(victim, `${store.file}.tmp`);
  store.save(state(1));
  assert.equal(readFileSync(victim, 'utf8'), 'root:x:0:0\n');
  assert.deepEqual(store.load(), { kind: 'ok', state: state(1) });
});

test('after a failed save the file is spoiled in place (reads as lost) until a save succeeds, in both modes', () => {
  for (const durable of [false, true]) {
    const store = new StateStore(mkdtempSync(join(tmpdir(), 'knockspa-state-')), { durable });
    store.save(state(1));
    store.invalidate();
    assert.equal(store.load(true).kind, 'corrupt', `durable=${durable}`);
    store.save(state(2));
    assert.deepEqual(store.load(), { kind: 'ok', state: state(2) });
    store.close();
  }
  assert.doesNotThrow(() => new StateStore(mkdtempSync(join(tmpdir(), 'knockspa-state-'))).invalidate(), 'no file: nothing to spoil');
});

test('a boot id that is not a string makes the file corrupt', () => {
  const store = new StateStore(mkdtempSync(join(tmpdir(), 'knockspa-state-')));
  writeFileSync(store.file, frame(JSON.stringify({ ...state(1), bootId: 42 })));
  assert.equal(store.load().kind, 'corrupt');
});

test('written in place: a shorter state is padded (still one JSON text), a much shorter one cut; a loose mode is made 0600', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-state-'));
  const store = new StateStore(dir);
  writeFileSync(store.file, '{}', { mode: 0o644 });
  const big: DaemonState = {
    ...state(1),
    replay: { version: 1, entries: Array.from({ length: 2000 }, (_, i) => [`id${i}`, 1_800_000_000_000 + i]) },
  };
  store.save(big);
  assert.equal(statSync(store.file).mode & 0o777, 0o600);
  const bigSize = statSync(store.file).size;
  store.save(state(2));
  assert.deepEqual(store.load(), { kind: 'ok', state: state(2) });
  assert.equal(statSync(store.file).size, bigSize, 'padded, not shrunk: one write, no truncate');
  assert.deepEqual(readdirSync(dir), ['state.json'], 'no temp file');
  // Padding past twice the text and 64 KiB is cut.
  const huge: DaemonState = {
    ...state(3),
    replay: { version: 1, entries: Array.from({ length: 6000 }, (_, i) => [`id${i}`, 1_800_000_000_000 + i]) },
  };
  store.save(huge);
  store.save(state(4));
  assert.deepEqual(store.load(), { kind: 'ok', state: state(4) });
  assert.ok(statSync(store.file).size < 1_000, `cut to the text (${statSync(store.file).size} bytes)`);
  // Grown again after the cut, with multi-byte text: the whole text, byte for byte.
  const wide: DaemonState = {
    ...state(5),
    replay: { version: 1, entries: Array.from({ length: 3000 }, (_, i) => [`id${i}-ü€`, 1_800_000_000_000 + i]) },
  };
  store.save(wide);
  assert.deepEqual(store.load(), { kind: 'ok', state: wide });
  assert.equal(statSync(store.file).size, Buffer.byteLength(frame(JSON.stringify(wide))), 'no padding past a longer text');
  store.close();
});

test('a state larger than one write slice: byte for byte, a surrogate pair on the slice boundary kept whole, padding past the buffer', async () => {
  const store = new StateStore(mkdtempSync(join(tmpdir(), 'knockspa-state-')));
  const withPairAt = (k: number): DaemonState => ({
    ...state(6),
    replay: { version: 1, entries: [[`${'x'.repeat(k)}\u{1F600}tail`, 1_800_000_000_000]] },
  });
  // The pair's first unit is the slice's last: cut there, it would be written as U+FFFD.
  const k = SLICE_UNITS - 1 - frame(JSON.stringify(withPairAt(0))).indexOf('\u{1F600}');
  const straddling = withPairAt(k);
  assert.equal(frame(JSON.stringify(straddling)).indexOf('\u{1F600}'), SLICE_UNITS - 1);
  store.save(straddling);
  assert.deepEqual(store.load(), { kind: 'ok', state: straddling });
  // Several slices of three-byte characters (over 3 MB), then a short state padded over 3 MB.
  const wide: DaemonState = {
    ...state(7),
    replay: { version: 1, entries: Array.from({ length: 20_000 }, (_, i) => [`${'€'.repeat(50)}${i}`, 1_800_000_000_000 + i]) },
  };
  store.save(wide);
  assert.deepEqual(store.load(), { kind: 'ok', state: wide });
  const wideSize = statSync(store.file).size;
  assert.ok(wideSize > 3 * 1024 * 1024, `${wideSize} bytes`);
  const short: DaemonState = {
    ...state(8),
    replay: { version: 1, entries: Array.from({ length: 12_000 }, (_, i) => [`${'€'.repeat(50)}${i}`, 1_800_000_000_000 + i]) },
  };
  store.save(short);
  assert.equal(statSync(store.file).size, wideSize, 'padded to the old length, not cut');
  assert.deepEqual(store.load(), { kind: 'ok', state: short });
  assert.equal(readFileSync(store.file, 'utf8').slice(-1_100_000).trim(), '', 'the padding (over one buffer) is spaces');
  store.close();
});

test('a save that cannot write throws, and says why', () => {
  // state.json turned into a directory: it cannot be opened for writing.
  const broken = new StateStore(mkdtempSync(join(tmpdir(), 'knockspa-state-')));
  mkdirSync(broken.file);
  assert.throws(() => broken.save(state(3)), /EISDIR|illegal operation on a directory/);
});
