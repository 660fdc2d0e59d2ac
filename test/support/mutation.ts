/** Random packet mutations for property tests (byte sets, xors, inserts and deletes, applied in order) and the property they check. */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';

export type Mutation =
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'xor'; readonly at: number; readonly mask: number }
  | { readonly kind: 'insert'; readonly at: number; readonly value: number }
  | { readonly kind: 'delete'; readonly at: number };

/** One mutation at a position up to maxAt (taken modulo the packet's length when applied). */
export function mutationArb(maxAt: number): fc.Arbitrary<Mutation> {
  const position = fc.nat({ max: maxAt });
  const byte = fc.integer({ min: 0, max: 255 });
  return fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: position, value: byte }),
    fc.record({ kind: fc.constant('xor' as const), at: position, mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: position, value: byte }),
    fc.record({ kind: fc.constant('delete' as const), at: position }),
  );
}

/** A mutated copy of packet; the packet itself is untouched. */
export function applyMutations(packet: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
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

/**
 * The mutation property: under 1 to 8 random mutations, verify never throws, accepts (returns an
 * object) only a packet the mutations left unchanged, and otherwise returns a reason `isReject`
 * knows; `rejected` checks which reason. Also fails if most runs were no-ops: setting a byte to its
 * own value cancels out now and then (those runs check the positive side), a weak generator often.
 */
export function assertMutationsRejected<R>(options: {
  readonly packets: readonly Uint8Array[];
  readonly maxAt: number;
  readonly runs: number;
  /** Called once per run: a fresh verifier each time, so an unchanged packet is not a replay. */
  readonly verify: (packet: Uint8Array) => R;
  readonly isReject: (result: R) => boolean;
  readonly rejected?: (original: Uint8Array, mutated: Uint8Array, result: R) => void;
}): void {
  const { packets, runs, verify, isReject, rejected } = options;
  let unchanged = 0;
  fc.assert(
    fc.property(
      fc.nat({ max: packets.length - 1 }),
      fc.array(mutationArb(options.maxAt), { minLength: 1, maxLength: 8 }),
      (which, mutations) => {
        const original = packets[which]!;
        const mutated = applyMutations(original, mutations);
        const result = verify(mutated);
        if (Buffer.from(mutated).equals(Buffer.from(original))) {
          unchanged++;
          assert.equal(typeof result, 'object', 'the unchanged packet verifies');
          return;
        }
        assert.ok(isReject(result), `mutated packet accepted: ${JSON.stringify(result)}`);
        rejected?.(original, mutated, result);
      },
    ),
    { numRuns: runs },
  );
  assert.ok(unchanged < runs / 2, `${unchanged} of ${runs} runs were no-ops: the generator is too weak`);
}
