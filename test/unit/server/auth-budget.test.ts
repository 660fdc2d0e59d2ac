// Authentication budget on a fake clock: clean sources always pass; a failing source is held back
// only when the daemon-wide cap is spent (so a spoofer cannot lock a user out cheaply), and is
// forgiven within seconds; memory is capped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AuthBudget,
  GLOBAL_PER_SEC,
  PUBLIC_KEY_COST,
  SOURCE_FAILURES,
  SOURCE_REFILL_PER_SEC,
} from '../../../src/server/intake/auth-budget.js';

function setup(opts: { globalPerSec?: number; maxSources?: number } = {}) {
  let now = 1_800_000_000_000;
  const budget = new AuthBudget({ now: () => now, ...opts });
  /** admit(); on admission the packet is taken to fail authentication. Returns how many were admitted. */
  const junk = (source: string, packets: number): number => {
    let admitted = 0;
    for (let i = 0; i < packets; i++) {
      if (!budget.admit(source)) continue;
      admitted++;
      budget.failed(source);
    }
    return admitted;
  };
  return { budget, junk, advance: (ms: number) => void (now += ms) };
}

test('a source that keeps failing is admitted while the daemon-wide cap lasts, then at its refill rate', () => {
  const { junk, advance } = setup({ globalPerSec: 100 });
  assert.equal(junk('198.18.0.66', 10_000), 100);
  advance(1_000);
  assert.equal(junk('198.18.0.66', 10_000), 100, 'one second later: the refill');
});

test("spoofing a user's address below the daemon-wide cap never holds her back (10 junk packets a second)", () => {
  const { budget, junk, advance } = setup();
  for (let second = 0; second < 10; second++) {
    assert.equal(junk('198.18.0.2', 10), 10, 'the junk is authenticated (and fails)');
    assert.equal(budget.admit('198.18.0.2'), true, `her knock in second ${second + 1} is authenticated`);
    advance(1_000);
  }
});

test('under pressure (the cap spent), a spoofed address waits until it is clean again: SOURCE_FAILURES / SOURCE_REFILL_PER_SEC s', () => {
  const { budget, junk, advance } = setup({ globalPerSec: 10 });
  junk('198.18.0.2', 1_000); // someone spoofs alice's address, faster than the cap
  assert.equal(budget.admit('198.18.0.2'), false, 'during the flood her knocks wait');
  advance((SOURCE_FAILURES / SOURCE_REFILL_PER_SEC) * 1_000);
  for (let i = 0; i < 20; i++) budget.admit(`203.0.113.${i}`); // the cap stays spent by others
  assert.equal(budget.admit('198.18.0.2'), true, 'clean again: admitted with the cap spent');
});

test('one failure (a typo, a skewed clock) is forgiven within 1 / SOURCE_REFILL_PER_SEC s', () => {
  const { budget, junk, advance } = setup({ globalPerSec: 10 });
  assert.equal(junk('198.18.0.2', 1), 1);
  for (let i = 0; i < 20; i++) budget.admit(`203.0.113.${i}`); // clean traffic spends the daemon-wide cap
  assert.equal(budget.admit('198.18.0.2'), false, 'right after a failure it needs a daemon-wide token');
  advance(1_000 / SOURCE_REFILL_PER_SEC);
  for (let i = 0; i < 20; i++) budget.admit(`203.0.113.${i}`);
  assert.equal(budget.admit('198.18.0.2'), true, 'clean again: admitted with the cap spent');
});

test('a signature check takes PUBLIC_KEY_COST daemon-wide tokens: failing sources get that many times fewer; clean ones still pass', () => {
  let now = 1_800_000_000_000;
  const budget = new AuthBudget({ now: () => now });
  const signatures = (): number => {
    let admitted = 0;
    for (let i = 0; i < 10_000; i++) {
      const source = `198.18.0.${100 + (i % 64)}`;
      if (!budget.admit(source, PUBLIC_KEY_COST)) continue;
      admitted++;
      budget.failed(source);
    }
    return admitted;
  };
  // First second: each of the 64 sources' first packet is clean, the rest share the cap.
  const first = signatures();
  assert.ok(first <= 64 + GLOBAL_PER_SEC / PUBLIC_KEY_COST, `first second: ${first}`);
  assert.ok(first >= GLOBAL_PER_SEC / PUBLIC_KEY_COST, `first second, the cap is used: ${first}`);
  now += 1_000;
  const next = signatures();
  // A second later the failing sources are forgiven SOURCE_REFILL_PER_SEC each, and the cap refilled once.
  assert.ok(next <= 64 * SOURCE_REFILL_PER_SEC + GLOBAL_PER_SEC / PUBLIC_KEY_COST, `a second later: ${next}`);
  assert.ok(next >= GLOBAL_PER_SEC / PUBLIC_KEY_COST, `the refilled cap is used: ${next}`);
  assert.equal(budget.admit('198.18.0.2', PUBLIC_KEY_COST), true, "a clean source's signature is checked with the cap spent");
});

test('many failing sources share the daemon-wide cap; a clean source is never refused', () => {
  const { budget, junk, advance } = setup({ globalPerSec: 100 });
  let admitted = 0;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 2_000; i++) admitted += junk(`198.18.${i >> 8}.${i & 255}`, 3);
  }
  // Each source's first packet is clean (admitted); every later one needs a daemon-wide token.
  assert.ok(
    admitted >= 2_000 && admitted - 2_000 <= 100,
    `failing sources got at most the cap: ${admitted - 2_000} beyond the first packets`,
  );
  assert.equal(budget.admit('203.0.113.9'), true, 'a source that sent no junk gets through with the cap exhausted');
  advance(100);
  let later = 0;
  for (let i = 0; i < 2_000; i++) later += junk(`198.18.${i >> 8}.${i & 255}`, 1);
  assert.equal(later, 10, '100 ms later the cap has refilled by a tenth of globalPerSec, shared by all failing sources');
});

test('with the cap exhausted by clean sources, failing sources wait; clean ones still pass', () => {
  const { budget, junk } = setup({ globalPerSec: 10 });
  assert.equal(junk('198.18.0.66', 1), 1, 'first failure (clean source)');
  for (let i = 0; i < 20; i++) assert.equal(budget.admit(`203.0.113.${i}`), true, `clean source ${i}`);
  assert.equal(budget.admit('198.18.0.66'), false, 'the cap is spent; the failing source waits');
});

test('defaults: the daemon-wide cap is GLOBAL_PER_SEC authentications a second', () => {
  const { junk, advance } = setup();
  let admitted = 0;
  for (let i = 0; i < GLOBAL_PER_SEC; i++) admitted += junk(`198.18.${i >> 8}.${i & 255}`, 1);
  assert.equal(admitted, GLOBAL_PER_SEC, 'first packets of fresh sources: all admitted (and they spend the cap)');
  advance(100);
  let failing = 0;
  for (let i = 0; i < GLOBAL_PER_SEC; i++) failing += junk(`198.18.${i >> 8}.${i & 255}`, 1);
  assert.equal(failing, GLOBAL_PER_SEC / 10, "in the next 100 ms, failing sources get a tenth of a second's worth");
});

test('memory is bounded: only failing sources are remembered, at most maxSources', () => {
  const { budget, junk } = setup({ maxSources: 1_000 });
  for (let i = 0; i < 10_000; i++) budget.admit(`2001:db8::${i.toString(16)}`);
  assert.equal(budget.size, 0, 'admitting remembers nothing');
  for (let i = 0; i < 10_000; i++) junk(`2001:db8::${i.toString(16)}`, 1);
  assert.equal(budget.size, 1_000);
});

test('failedWithin: a source that failed is remembered as such for the given time, not only until it is clean again', () => {
  const { budget, junk, advance } = setup();
  assert.equal(budget.failedWithin('198.18.0.66', 60_000), false);
  junk('198.18.0.66', 1);
  advance(1_000);
  assert.equal(budget.isClean('198.18.0.66'), true, 'forgiven for admission');
  assert.equal(budget.failedWithin('198.18.0.66', 60_000), true, 'but still a recent failure');
  advance(60_000);
  assert.equal(budget.failedWithin('198.18.0.66', 60_000), false);
});
