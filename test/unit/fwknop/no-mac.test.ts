/**
 * A fwknop packet sent without an HMAC (fwknop without --hmac-key) is refused with its own reason,
 * fwknop-no-mac, and a packet whose tag is merely wrong stays fwknop-bad-mac.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { HMAC_B64_LENGTH } from '../../../src/protocol/fwknop/index.js';
import { ALICE_KEYS, BOB_KEYS, makeVerifier, NOW, packetOf } from './fixtures.js';

const verifier = () =>
  makeVerifier([
    ['alice', ALICE_KEYS],
    ['bob', BOB_KEYS],
  ]);

test('a packet with no HMAC, sealed with a known encryption key: fwknop-no-mac', () => {
  const unsigned = packetOf().subarray(0, -HMAC_B64_LENGTH);
  assert.equal(verifier().verify(unsigned, NOW), 'fwknop-no-mac');
});

test('a packet with no HMAC under a key nobody has: bad-mac or bad-base64 (its end may not decode as a tag), never no-mac', () => {
  const strangers = { encKey: new Uint8Array(32).fill(7), hmacKey: new Uint8Array(64).fill(9) };
  const unsigned = packetOf({}, undefined, strangers).subarray(0, -HMAC_B64_LENGTH);
  assert.ok(['fwknop-bad-mac', 'fwknop-bad-base64'].includes(verifier().verify(unsigned, NOW) as string));
});

test('a signed packet with one tag character changed: fwknop-bad-mac, not no-mac', () => {
  const packet = packetOf().slice();
  const last = packet.length - 2;
  packet[last] = packet[last] === 0x41 ? 0x42 : 0x41;
  assert.equal(verifier().verify(packet, NOW), 'fwknop-bad-mac');
});
