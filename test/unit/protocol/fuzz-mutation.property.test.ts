/** Property: valid packets under random mutations (byte changes, inserts, deletes) never throw and verify only when unchanged. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PACKET_SIZE, sealPacket, type KnockFields } from '../../../src/protocol/index.js';
import { ALICE, BOB, NOW, makeVerifier, nonceOf, toHex, isRejectReason } from './fixtures.js';
import { applyMutations, mutationArb } from '../../support/mutation.js';

const RUNS = 10_000;

const mutation = mutationArb(PACKET_SIZE + 8);

const BASES: ReadonlyArray<readonly [typeof ALICE, KnockFields]> = [
  [ALICE, { timestampMs: NOW, action: 'open', ports: [{ proto: 'tcp', port: 22 }], allowIp: null, durationSec: 0 }],
  [
    BOB,
    {
      timestampMs: NOW - 1000,
      action: 'open',
      ports: [
        { proto: 'udp', port: 53 },
        { proto: 'tcp', port: 443 },
      ],
      allowIp: '192.0.2.9',
      durationSec: 86_400,
    },
  ],
  [ALICE, { timestampMs: NOW + 1000, action: 'close', ports: [{ proto: 'tcp', port: 8080 }], allowIp: '2001:db8::1', durationSec: 0 }],
];

describe('mutated valid packets', () => {
  const packets = BASES.map(([key, fields], i) => sealPacket(key, fields, nonceOf(i)));

  test('never throw; verify only if the mutations cancelled out', () => {
    let unchanged = 0;
    fc.assert(
      fc.property(fc.nat({ max: packets.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 8 }), (which, mutations) => {
        const original = packets[which]!;
        const mutated = applyMutations(original, mutations);
        // A fresh guard per run, so an unchanged packet is accepted rather than refused as a replay.
        const result = makeVerifier([ALICE, BOB]).verify(mutated, NOW);
        if (toHex(mutated) === toHex(original)) {
          unchanged++;
          assert.equal(typeof result, 'object', 'the unchanged packet verifies');
          return;
        }
        assert.ok(isRejectReason(result), `mutated packet must be rejected, got ${JSON.stringify(result)}`);
        if (mutated.length !== PACKET_SIZE) assert.equal(result, 'bad-length');
      }),
      { numRuns: RUNS },
    );
    // Setting a byte to its own value cancels out now and then; those runs checked the positive side.
    assert.ok(unchanged < RUNS / 2, `${unchanged} of ${RUNS} runs were no-ops: the generator is too weak`);
  });

  test('same-length mutations of the tag, nonce or body are bad-mac', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: packets.length - 1 }),
        fc.integer({ min: 10, max: PACKET_SIZE - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (which, at, mask) => {
          const copy = packets[which]!.slice();
          copy[at]! ^= mask;
          assert.equal(makeVerifier([ALICE, BOB]).verify(copy, NOW), 'bad-mac');
        },
      ),
      { numRuns: RUNS },
    );
  });
});
