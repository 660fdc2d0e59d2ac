/**
 * Property: valid SSH-key knocks under random mutations (several byte changes, inserts, deletes at
 * once; bitflip.test.ts covers every single flip and length) never throw and verify only when unchanged.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { REJECT_REASONS } from '../../../../src/protocol/index.js';
import { KEYS, NOW, knock, makeSshVerifier } from './fixtures.js';

const RUNS = 2000;

type Mutation =
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'xor'; readonly at: number; readonly mask: number }
  | { readonly kind: 'insert'; readonly at: number; readonly value: number }
  | { readonly kind: 'delete'; readonly at: number };

const position = fc.nat({ max: 1200 });
const byte = fc.integer({ min: 0, max: 255 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: position, value: byte }),
  fc.record({ kind: fc.constant('xor' as const), at: position, mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: position, value: byte }),
  fc.record({ kind: fc.constant('delete' as const), at: position }),
);

function apply(packet: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  const bytes = Array.from(packet);
  for (const m of mutations) {
    const at = m.kind === 'insert' ? Math.min(m.at, bytes.length) : bytes.length === 0 ? -1 : m.at % bytes.length;
    if (at < 0) continue;
    if (m.kind === 'set') bytes[at] = m.value;
    else if (m.kind === 'xor') bytes[at] = bytes[at]! ^ m.mask;
    else if (m.kind === 'insert') bytes.splice(at, 0, m.value);
    else bytes.splice(at, 1);
  }
  return Uint8Array.from(bytes);
}

describe('mutated SSH-key knocks', () => {
  const users = KEYS.map((k, i) => [`user${i}`, k] as const);
  const packets = KEYS.map((k, i) => knock(k, { n: 40 + i }));

  test('never throw; verify only if the mutations cancelled out', () => {
    let unchanged = 0;
    fc.assert(
      fc.property(fc.nat({ max: packets.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 8 }), (which, mutations) => {
        const original = packets[which]!;
        const mutated = apply(original, mutations);
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
