/**
 * Property: valid SSH-key knocks under random mutations (several byte changes, inserts, deletes at
 * once; bitflip.test.ts covers every single flip and length) never throw and verify only when unchanged.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { REJECT_REASONS } from '../../../../src/protocol/index.js';
import { KEYS, NOW, knock, makeSshVerifier } from './fixtures.js';
import { assertMutationsRejected } from '../../../support/mutation.js';

describe('mutated SSH-key knocks', () => {
  const users = KEYS.map((k, i) => [`user${i}`, k] as const);
  const packets = KEYS.map((k, i) => knock(k, { n: 40 + i }));

  test('never throw; verify only if the mutations cancelled out', () => {
    assertMutationsRejected({
      packets,
      maxAt: 1200,
      runs: 2000,
      verify: (mutated) => makeSshVerifier(users).verify(mutated, NOW),
      isReject: (result) => (REJECT_REASONS as readonly unknown[]).includes(result),
      rejected: (original, mutated, result) => {
        if (mutated.length !== original.length && mutated.length >= 10 && mutated[0] === original[0] && mutated[1] === original[1])
          assert.ok(result === 'bad-length' || result === 'unknown-key', `length ${mutated.length}: ${String(result)}`);
      },
    });
  });
});
