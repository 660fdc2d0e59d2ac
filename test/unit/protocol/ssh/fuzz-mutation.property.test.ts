/**
 * Property: valid SSH-key knocks under random mutations (several byte changes, inserts, deletes at
 * once; bitflip.test.ts covers every single flip and length) never throw and verify only when unchanged.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { REJECT_REASONS } from '../../../../src/protocol/index.js';
import { KEYS, NOW, knock, makeSshVerifier } from './fixtures.js';
import { applyMutations, mutationArb } from '../../../support/mutation.js';

const RUNS = 2000;

const mutation = mutationArb(1200);

describe('mutated SSH-key knocks', () => {
  const users = KEYS.map((k, i) => [`user${i}`, k] as const);
  const packets = KEYS.map((k, i) => knock(k, { n: 40 + i }));

  test('never throw; verify only if the mutations cancelled out', () => {
    let unchanged = 0;
    fc.assert(
      fc.property(fc.nat({ max: packets.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 8 }), (which, mutations) => {
        const original = packets[which]!;
        const mutated = applyMutations(original, mutations);
        // A fresh guard per run, so an unchanged packet is accepted rather than refused as a replay.
        const result = makeSshVerifier(users).verify(mutated, NOW);
        if (Buffer.from(mutated).equals(Buffer.from(original))) {
          unchanged++;
          assert.equal(typeof result, 'object', 'the unchanged packet verifies');
          return;
        }
        assert.ok((REJECT_REASONS as readonly string[]).includes(result as string), `mutated packet accepted: ${JSON.stringify(result)}`);
        if (mutated.length !== original.length && mutated.length >= 10 && mutated[0] === original[0] && mutated[1] === original[1])
          assert.ok(result === 'bad-length' || result === 'unknown-key', `length ${mutated.length}: ${String(result)}`);
      }),
      { numRuns: RUNS },
    );
    assert.ok(unchanged < RUNS / 2, `${unchanged} of ${RUNS} runs were no-ops: the generator is too weak`);
  });
});
