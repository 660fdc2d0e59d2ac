/** Replay protection: repeats, persistence through JSON, forgetting only after the window, capacity, and per-key independence. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ReplayGuard, sealPacket, type KnockFields } from '../../../src/protocol/index.js';
import { ALICE, BOB, NOW, OPEN_SSH, SKEW, makeVerifier, mustVerify, nonceOf } from './fixtures.js';

const at = (timestampMs: number): KnockFields => ({ ...OPEN_SSH, timestampMs });

describe('replay', () => {
  test('the same packet twice: the second is a replay', () => {
    const verifier = makeVerifier([ALICE]);
    const packet = sealPacket(ALICE, OPEN_SSH, nonceOf(1));
    mustVerify(verifier.verify(packet, NOW));
    assert.equal(verifier.verify(packet, NOW), 'replay');
    assert.equal(verifier.verify(packet, NOW + 10_000), 'replay');
    assert.equal(verifier.replay.size, 1);
  });

  test('still a replay after toState -> JSON -> fromState', () => {
    const guard = new ReplayGuard(100);
    const packet = sealPacket(ALICE, OPEN_SSH, nonceOf(2));
    mustVerify(makeVerifier([ALICE], { replay: guard }).verify(packet, NOW));
    const json = JSON.stringify(guard.toState());
    const restored = ReplayGuard.fromState(JSON.parse(json), 100, NOW + 1_000);
    assert.equal(restored.size, 1);
    assert.deepEqual(restored.toState(), guard.toState());
    assert.equal(makeVerifier([ALICE], { replay: restored }).verify(packet, NOW + 1_000), 'replay');
  });

  test('past timestamp + skew it is stale, and the guard forgets it', () => {
    const guard = new ReplayGuard(100);
    const verifier = makeVerifier([ALICE], { replay: guard });
    const packet = sealPacket(ALICE, OPEN_SSH, nonceOf(3));
    mustVerify(verifier.verify(packet, NOW));
    const expiresAt = NOW + SKEW;
    assert.equal(guard.size, 1);
    assert.equal(verifier.verify(packet, expiresAt), 'replay', 'still in the window at exactly timestamp + skew');
    assert.equal(verifier.verify(packet, expiresAt + 1), 'stale');
    guard.prune(expiresAt + 1_000); // pruning works in whole seconds
    assert.equal(guard.size, 0);
  });

  test('no instant where a packet is inside the window but forgotten (guard pruned as it goes)', () => {
    const verifier = makeVerifier([ALICE], { capacity: 10_000 });
    const packet = sealPacket(ALICE, OPEN_SSH, nonceOf(4));
    mustVerify(verifier.verify(packet, NOW));
    let n = 1000;
    for (let now = NOW + SKEW - 2_500; now <= NOW + SKEW + 2_500; now += 37) {
      mustVerify(verifier.verify(sealPacket(ALICE, at(now), nonceOf(n++)), now)); // drives pruning up to `now`
      assert.equal(verifier.verify(packet, now), now <= NOW + SKEW ? 'replay' : 'stale', `at now = timestamp + ${now - NOW}`);
    }
  });

  test('fromState drops what has expired and refuses malformed state', () => {
    const state = {
      version: 1,
      entries: [
        ['a', NOW - 1],
        ['b', NOW],
        ['c', NOW + 5],
      ],
    };
    const guard = ReplayGuard.fromState(JSON.parse(JSON.stringify(state)), 10, NOW);
    assert.deepEqual(
      guard
        .toState()
        .entries.map(([id]) => id)
        .sort(),
      ['b', 'c'],
    );
    for (const bad of [
      null,
      1,
      'x',
      {},
      { version: 2, entries: [] },
      { version: 1 },
      { version: 1, entries: [['a']] },
      { version: 1, entries: [[1, 2]] },
      { version: 1, entries: [['a', 'soon']] },
      { version: 1, entries: [['a', null]] },
    ])
      assert.throws(() => ReplayGuard.fromState(bad, 10, NOW), /replay state/, JSON.stringify(bad));
  });

  test('fromState keeps every live entry even beyond capacity', () => {
    const entries = Array.from({ length: 20 }, (_, i) => [`id${i}`, NOW + 1_000] as const);
    const guard = ReplayGuard.fromState({ version: 1, entries }, 5, NOW);
    assert.equal(guard.size, 20);
    for (let i = 0; i < 20; i++) assert.equal(guard.claim(`id${i}`, NOW + 1_000, NOW), 'replay');
    assert.equal(guard.claim('new', NOW + 1_000, NOW), 'replay-cache-full');
  });

  test('packets from two keys with the same nonce are independent', () => {
    const verifier = makeVerifier([ALICE, BOB]);
    const fromAlice = sealPacket(ALICE, OPEN_SSH, nonceOf(5));
    const fromBob = sealPacket(BOB, OPEN_SSH, nonceOf(5));
    assert.equal(mustVerify(verifier.verify(fromAlice, NOW)).user, 'alice');
    assert.equal(mustVerify(verifier.verify(fromBob, NOW)).user, 'bob');
    assert.equal(verifier.verify(fromAlice, NOW), 'replay');
    assert.equal(verifier.verify(fromBob, NOW), 'replay');
  });

  test('rejected packets (stale, future, wrong server) are not remembered', () => {
    const verifier = makeVerifier([ALICE]);
    assert.equal(verifier.verify(sealPacket(ALICE, at(NOW - SKEW - 1), nonceOf(6)), NOW), 'stale');
    assert.equal(verifier.verify(sealPacket(ALICE, at(NOW + SKEW + 1), nonceOf(7)), NOW), 'future');
    assert.equal(verifier.verify(sealPacket(ALICE, OPEN_SSH, nonceOf(8), 'elsewhere.example'), NOW), 'wrong-server');
    assert.equal(verifier.replay.size, 0);
    // The future packet becomes acceptable once the clock catches up, since it was never claimed.
    mustVerify(verifier.verify(sealPacket(ALICE, at(NOW + SKEW + 1), nonceOf(7)), NOW + 1));
  });
});

describe('replay guard capacity', () => {
  test('a full guard refuses new packets and never forgets a live one', () => {
    const verifier = makeVerifier([ALICE], { capacity: 3 });
    const live = [1, 2, 3].map((i) => sealPacket(ALICE, OPEN_SSH, nonceOf(100 + i)));
    for (const p of live) mustVerify(verifier.verify(p, NOW));
    for (let i = 0; i < 200; i++)
      assert.equal(verifier.verify(sealPacket(ALICE, at(NOW + i), nonceOf(200 + i)), NOW + i), 'replay-cache-full');
    assert.equal(verifier.replay.size, 3);
    for (const p of live) assert.equal(verifier.verify(p, NOW + 200), 'replay', 'a known packet is a replay, full or not');
  });

  test('a packet refused for a full cache was not remembered: it passes once room is made', () => {
    const verifier = makeVerifier([ALICE], { capacity: 1 });
    mustVerify(verifier.verify(sealPacket(ALICE, at(NOW - 20_000), nonceOf(300)), NOW - 20_000));
    const later = sealPacket(ALICE, at(NOW), nonceOf(301));
    assert.equal(verifier.verify(later, NOW), 'replay-cache-full');
    // The first entry expires at NOW + 10 s; a second after that it is pruned and there is room.
    mustVerify(verifier.verify(later, NOW + 11_000));
    assert.equal(verifier.verify(later, NOW + 11_000), 'replay');
  });

  test('capacity must be a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new ReplayGuard(bad), /capacity/);
  });
});

describe('per-key quota', () => {
  test('one key cannot fill the guard for everyone', () => {
    const guard = new ReplayGuard(1_000, 10);
    for (let i = 0; i < 10; i++) assert.equal(guard.claim(`a${i}`, NOW + 60_000, NOW, 'keyA'), 'ok');
    assert.equal(guard.claim('a10', NOW + 60_000, NOW, 'keyA'), 'user-over-quota');
    assert.equal(guard.claim('a0', NOW + 60_000, NOW, 'keyA'), 'replay', 'a replay is still a replay');
    assert.equal(guard.claim('b0', NOW + 60_000, NOW, 'keyB'), 'ok', 'another key is unaffected');
  });

  test('the quota frees up as entries expire, and survives a restart', () => {
    const guard = new ReplayGuard(1_000, 2);
    guard.claim('a0', NOW + 1_000, NOW, 'keyA');
    guard.claim('a1', NOW + 5_000, NOW, 'keyA');
    const restored = ReplayGuard.fromState(JSON.parse(JSON.stringify(guard.toState())), 1_000, NOW, 2);
    assert.equal(restored.claim('a2', NOW + 5_000, NOW, 'keyA'), 'user-over-quota');
    assert.equal(restored.claim('a2', NOW + 9_000, NOW + 2_001, 'keyA'), 'ok', 'a0 expired, so keyA has room again');
    assert.equal(restored.claim('a3', NOW + 9_000, NOW + 2_001, 'keyA'), 'user-over-quota');
  });

  test('the default quota is a sixteenth of the capacity, at least 64', () => {
    assert.equal(new ReplayGuard(100_000).perOwner, 6_250);
    assert.equal(new ReplayGuard(100).perOwner, 64);
  });
});
