// Token buckets: a table of {advance, allowed} rows on a fake clock, and the cap on remembered keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBuckets } from '../../../src/server/intake/token-buckets.js';

test('capacity, then refill at the set rate, never above capacity', () => {
  let now = 0;
  const b = new TokenBuckets({ capacity: 3, refillPerSec: 2, maxKeys: 10, now: () => now });
  const rows: Array<[number, boolean]> = [
    [0, true],
    [0, true],
    [0, true],
    [0, false], // capacity 3
    [250, false],
    [250, true],
    [0, false], // 0.5 s -> one token
    [10_000, true],
    [0, true],
    [0, true],
    [0, false], // long idle refills to 3, not 20
  ];
  rows.forEach(([advance, allowed], i) => {
    now += advance;
    assert.equal(b.take('198.18.0.9'), allowed, `row ${i}`);
  });
});

test('keys are independent', () => {
  const b = new TokenBuckets({ capacity: 1, refillPerSec: 0, maxKeys: 10, now: () => 0 });
  assert.equal(b.take('a'), true);
  assert.equal(b.take('a'), false);
  assert.equal(b.take('b'), true);
});

test('memory is bounded: past maxKeys the oldest key is forgotten', () => {
  const b = new TokenBuckets({ capacity: 1, refillPerSec: 0, maxKeys: 100, now: () => 0 });
  for (let i = 0; i < 10_000; i++) b.take(`src-${i}`);
  assert.equal(b.size, 100);
  assert.equal(b.take('src-0'), true, 'forgotten, so it starts fresh (a spoofed source cannot lock anyone out for long)');
});

test('take(key, n) takes n tokens at once, or none when fewer are left', () => {
  let now = 0;
  const b = new TokenBuckets({ capacity: 10, refillPerSec: 10, maxKeys: 1, now: () => now });
  assert.equal(b.take('', 4), true);
  assert.equal(b.take('', 7), false, 'only 6 left');
  assert.equal(b.take('', 6), true, 'the refused take took nothing');
  assert.equal(b.take('', 1), false);
  now += 300; // 3 tokens back
  assert.equal(b.take('', 3), true);
  assert.equal(b.take('', 1), false);
});
