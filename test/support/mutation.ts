/** Random packet mutations for property tests: byte sets, xors, inserts and deletes, applied in order. */
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
