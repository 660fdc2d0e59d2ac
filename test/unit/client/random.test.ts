// The nonce's randomness: exactly the bytes asked for, from the platform's CSPRNG, fresh each time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secureRandomBytes } from '../../../src/client/random.js';

const allZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

test('secureRandomBytes gives exactly the bytes asked for, fresh each time', () => {
  for (const size of [0, 8, 24, 100_000]) assert.equal(secureRandomBytes(size).length, size);
  const a = secureRandomBytes(24);
  const b = secureRandomBytes(24);
  assert.notDeepEqual(a, b);
  assert.ok(!allZero(a));
});

test("more than one call's worth (getRandomValues fills 65536 bytes at most) is random to the end", () => {
  const big = secureRandomBytes(65_536 + 1000);
  assert.ok(!allZero(big.subarray(65_536)), 'the bytes past the first call are filled');
  assert.ok(!allZero(big.subarray(0, 1000)));
});
