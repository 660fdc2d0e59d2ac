/** Property: random byte strings (any length, exactly 146, with random or known key ids) never throw and never verify. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MAGIC, OFF_KEY_ID, PACKET_SIZE, VERSION } from '../../../src/protocol/index.js';
import { ALICE, BOB, NOW, makeVerifier, isRejectReason } from './fixtures.js';

const RUNS = 10_000;

describe('random bytes', () => {
  const verifier = makeVerifier([ALICE, BOB]);
  const knownIds = [ALICE.keyId, BOB.keyId];

  test('any length 0..300: a reject reason, bad-length unless exactly 146', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
        const result = verifier.verify(bytes, NOW);
        assert.ok(isRejectReason(result), `not a reject reason: ${JSON.stringify(result)}`);
        if (bytes.length !== PACKET_SIZE) assert.equal(result, 'bad-length');
      }),
      { numRuns: RUNS },
    );
  });

  test('exactly 146 bytes: a reject reason, and the one the header calls for', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: PACKET_SIZE, maxLength: PACKET_SIZE }), (bytes) => {
        const result = verifier.verify(bytes, NOW);
        assert.ok(isRejectReason(result));
        if (bytes[0] !== MAGIC) assert.equal(result, 'bad-magic');
        else if (bytes[1] !== VERSION) assert.equal(result, 'bad-version');
        else assert.equal(result, 'unknown-key');
      }),
      { numRuns: RUNS },
    );
  });

  test('146 bytes with valid magic and version and a random key id: unknown-key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: PACKET_SIZE, maxLength: PACKET_SIZE }), (bytes) => {
        bytes[0] = MAGIC;
        bytes[1] = VERSION;
        fc.pre(!knownIds.some((id) => id.every((b, i) => b === bytes[OFF_KEY_ID + i])));
        assert.equal(verifier.verify(bytes, NOW), 'unknown-key');
      }),
      { numRuns: RUNS },
    );
  });

  test('146 bytes with valid magic and version and a known key id: bad-mac', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: PACKET_SIZE, maxLength: PACKET_SIZE }), fc.constantFrom(...knownIds), (bytes, keyId) => {
        bytes[0] = MAGIC;
        bytes[1] = VERSION;
        bytes.set(keyId, OFF_KEY_ID);
        assert.equal(verifier.verify(bytes, NOW), 'bad-mac');
      }),
      { numRuns: RUNS },
    );
  });

  test('no rejection touched the replay guard', () => assert.equal(verifier.replay.size, 0));
});
