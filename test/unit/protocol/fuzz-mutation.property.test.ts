/** Property: valid packets under random mutations (byte changes, inserts, deletes) never throw and verify only when unchanged. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PACKET_SIZE, sealPacket, type KnockFields } from '../../../src/protocol/index.js';
import { ALICE, BOB, NOW, makeVerifier, nonceOf, isRejectReason } from './fixtures.js';
import { assertMutationsRejected } from '../../support/mutation.js';

const RUNS = 10_000;

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
    assertMutationsRejected({
      packets,
      maxAt: PACKET_SIZE + 8,
      runs: RUNS,
      verify: (mutated) => makeVerifier([ALICE, BOB]).verify(mutated, NOW),
      isReject: isRejectReason,
      rejected: (_original, mutated, result) => {
        if (mutated.length !== PACKET_SIZE) assert.equal(result, 'bad-length');
      },
    });
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
