// State store: round trip, mode 0600, atomic replace, failed saves throw, corrupt files set aside, boot id.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SLICE_UNITS, StateStore, type DaemonState } from '../../../src/server/state/state.js';

function state(n: number): DaemonState {
  return {
    version: 1,
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
  for (const bad of ['{not json', '{"version":2,"replay":{},"grants":[]}', '{"version":1,"replay":{},"grants":[{"user":"a"}]}']) {
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
    writeFileSync(store.file, JSON.stringify({ ...state(1), grants: [grant] }));
    assert.equal(store.load().kind, 'corrupt', JSON.stringify(grant));
  }
  writeFileSync(store.file, JSON.stringify(state(1)));
  assert.equal(store.load().kind, 'ok', 'and the check can pass');
});

test('a boot id that is not a string makes the file corrupt', () => {
  const store = new StateStore(mkdtempSync(join(tmpdir(), 'knockspa-state-')));
  writeFileSync(store.file, JSON.stringify({ ...state(1), bootId: 42 }));
  assert.equal(store.load().kind, 'corrupt');
});

test('written in place: a shorter state is padded (still one JSON text), a much shorter one cut; a loose mode is made 0600', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-state-'));
  const store = new StateStore(dir);
  writeFileSync(store.file, '{}', { mode: 0o644 });
  const big: DaemonState = { ...state(1), replay: { version: 1, entries: Array.from({ length: 2000 }, (_, i) => [`id${i}`, 1_800_000_000_000 + i]) } };
  store.save(big);
  assert.equal(statSync(store.file).mode & 0o777, 0o600);
  const bigSize = statSync(store.file).size;
  store.save(state(2));
  assert.deepEqual(store.load(), { kind: 'ok', state: state(2) });
  assert.equal(statSync(store.file).size, bigSize, 'padded, not shrunk: one write, no truncate');
  assert.deepEqual(readdirSync(dir), ['state.json'], 'no temp file');
  // Padding past twice the text and 64 KiB is cut.
  const huge: DaemonState = { ...state(3), replay: { version: 1, entries: Array.from({ length: 6000 }, (_, i) => [`id${i}`, 1_800_000_000_000 + i]) } };
  store.save(huge);
  store.save(state(4));
  assert.deepEqual(store.load(), { kind: 'ok', state: state(4) });
  assert.ok(statSync(store.file).size < 1_000, `cut to the text (${statSync(store.file).size} bytes)`);
  // Grown again after the cut, with multi-byte text: the whole text, byte for byte.
  const wide: DaemonState = { ...state(5), replay: { version: 1, entries: Array.from({ length: 3000 }, (_, i) => [`id${i}-ü€`, 1_800_000_000_000 + i]) } };
  store.save(wide);
  assert.deepEqual(store.load(), { kind: 'ok', state: wide });
  assert.equal(statSync(store.file).size, Buffer.byteLength(JSON.stringify(wide)), 'no padding past a longer text');
  store.close();
});

test('a state larger than one write slice: byte for byte, a surrogate pair on the slice boundary kept whole, padding past the buffer', async () => {
  const store = new StateStore(mkdtempSync(join(tmpdir(), 'knockspa-state-')));
  const withPairAt = (k: number): DaemonState => ({ ...state(6), replay: { version: 1, entries: [[`${'x'.repeat(k)}\u{1F600}tail`, 1_800_000_000_000]] } });
  // The pair's first unit is the slice's last: cut there, it would be written as U+FFFD.
  const k = SLICE_UNITS - 1 - JSON.stringify(withPairAt(0)).indexOf('\u{1F600}');
  const straddling = withPairAt(k);
  assert.equal(JSON.stringify(straddling).indexOf('\u{1F600}'), SLICE_UNITS - 1);
  store.save(straddling);
  assert.deepEqual(store.load(), { kind: 'ok', state: straddling });
  // Several slices of three-byte characters (over 3 MB), then a short state padded over 3 MB.
  const wide: DaemonState = { ...state(7), replay: { version: 1, entries: Array.from({ length: 20_000 }, (_, i) => [`${'€'.repeat(50)}${i}`, 1_800_000_000_000 + i]) } };
  store.save(wide);
  assert.deepEqual(store.load(), { kind: 'ok', state: wide });
  const wideSize = statSync(store.file).size;
  assert.ok(wideSize > 3 * 1024 * 1024, `${wideSize} bytes`);
  const short: DaemonState = { ...state(8), replay: { version: 1, entries: Array.from({ length: 12_000 }, (_, i) => [`${'€'.repeat(50)}${i}`, 1_800_000_000_000 + i]) } };
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
