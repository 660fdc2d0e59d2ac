/** Time window (maxSkewMs) in both directions, and the server binding: a packet for server A is refused by server B. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { sealPacket, type KnockFields } from '../../../src/protocol/index.js';
import { ALICE, NOW, OPEN_SSH, SERVER, fixedKey, makeVerifier, mustVerify, nonceOf } from './fixtures.js';

const at = (timestampMs: number): KnockFields => ({ ...OPEN_SSH, timestampMs });

describe('clock skew, maxSkewMs = 30000', () => {
  const cases: ReadonlyArray<readonly [number, string]> = [
    [0, 'ok'],
    [-29_000, 'ok'],
    [29_000, 'ok'],
    [-30_000, 'ok'],
    [30_000, 'ok'],
    [-30_001, 'stale'],
    [30_001, 'future'],
    [-31_000, 'stale'],
    [31_000, 'future'],
    [-NOW, 'stale'],
    [365 * 86_400_000, 'future'],
  ];
  let n = 0;
  for (const [offset, expected] of cases) {
    test(`timestamp = now ${offset >= 0 ? '+' : '-'} ${Math.abs(offset)} ms: ${expected}`, () => {
      const verifier = makeVerifier([ALICE], { maxSkewMs: 30_000 });
      const result = verifier.verify(sealPacket(ALICE, at(NOW + offset), nonceOf(++n)), NOW);
      if (expected === 'ok') assert.equal(mustVerify(result).timestampMs, NOW + offset);
      else assert.equal(result, expected);
    });
  }

  test('maxSkewMs = 0 accepts only the exact millisecond', () => {
    const verifier = makeVerifier([ALICE], { maxSkewMs: 0 });
    assert.equal(verifier.verify(sealPacket(ALICE, at(NOW - 1), nonceOf(100)), NOW), 'stale');
    assert.equal(verifier.verify(sealPacket(ALICE, at(NOW + 1), nonceOf(101)), NOW), 'future');
    mustVerify(verifier.verify(sealPacket(ALICE, at(NOW), nonceOf(102)), NOW));
  });
});

describe('server binding', () => {
  const A = 'a.example.net';
  const B = 'b.example.net';
  const key = fixedKey(5, { serverId: A });

  test('a packet sealed for server A is wrong-server at B, even though B holds the same key', () => {
    const packet = sealPacket(key, OPEN_SSH, nonceOf(1));
    assert.equal(makeVerifier([key], { serverId: B }).verify(packet, NOW), 'wrong-server');
    mustVerify(makeVerifier([key], { serverId: A }).verify(packet, NOW));
  });

  test('sealPacket(..., serverId) addresses another server explicitly', () => {
    const packet = sealPacket(key, OPEN_SSH, nonceOf(2), B);
    mustVerify(makeVerifier([key], { serverId: B }).verify(packet, NOW));
    assert.equal(makeVerifier([key], { serverId: A }).verify(packet, NOW), 'wrong-server');
  });

  test('server ids are compared exactly: case and trailing characters matter', () => {
    const packet = sealPacket(ALICE, OPEN_SSH, nonceOf(3));
    for (const other of [SERVER.toUpperCase(), `${SERVER}.`, SERVER.slice(0, -1), ` ${SERVER}`])
      assert.equal(makeVerifier([ALICE], { serverId: other }).verify(packet, NOW), 'wrong-server', JSON.stringify(other));
  });

  test('time is checked before the server: a stale packet for another server is stale', () => {
    const packet = sealPacket(key, at(NOW - 60_000), nonceOf(4));
    assert.equal(makeVerifier([key], { serverId: B }).verify(packet, NOW), 'stale');
  });
});
