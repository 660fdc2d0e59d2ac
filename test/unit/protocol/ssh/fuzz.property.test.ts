/** Property: random bytes, and random bytes behind a valid header and candidate id, never throw and never verify. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SSH_MAGIC, SSH_VERSION } from '../../../../src/protocol/ssh/index.js';
import { REJECT_REASONS } from '../../../../src/protocol/index.js';
import { KEYS, NOW, knock, makeSshVerifier } from './fixtures.js';

const RUNS = 3000;
const isReason = (r: unknown): boolean => (REJECT_REASONS as readonly string[]).includes(r as string);

describe('random bytes', () => {
  const verifier = makeSshVerifier(KEYS.map((k, i) => [`user${i}`, k] as const));

  test('any bytes, any length up to 1300: a reject reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1300 }), (bytes) => {
        assert.ok(isReason(verifier.verify(bytes, NOW)));
      }),
      { numRuns: RUNS },
    );
  });

  test('magic and version right, candidate id random: unknown-key (or bad-length)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 202, maxLength: 700 }), (bytes) => {
        bytes[0] = SSH_MAGIC;
        bytes[1] = SSH_VERSION;
        const r = verifier.verify(bytes, NOW);
        assert.ok(r === 'unknown-key' || r === 'bad-length', String(r));
      }),
      { numRuns: RUNS },
    );
  });

  for (const key of KEYS) {
    test(`${key.type}: a valid header and candidate id, the rest random: bad-signature`, () => {
      const good = knock(key, { n: 77 });
      fc.assert(
        fc.property(fc.uint8Array({ minLength: good.length - 10, maxLength: good.length - 10 }), (tail) => {
          const bytes = good.slice();
          bytes.set(tail, 10);
          assert.equal(verifier.verify(bytes, NOW), 'bad-signature');
        }),
        { numRuns: key.type === 'ssh-rsa' ? 300 : 1000 },
      );
    });
  }
});
