/** Every single-bit flip of a valid packet (146 x 8) is rejected with the reason its position calls for, never an exception. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import {
  OFF_KEY_ID,
  OFF_NONCE,
  OFF_VERSION,
  PACKET_SIZE,
  sealPacket,
  type RejectReason,
  type VerifyResult,
} from '../../../src/protocol/index.js';
import { ALICE, NOW, OPEN_SSH, fixedKey, makeVerifier, mustVerify, nonceOf, isRejectReason } from './fixtures.js';

function expectedReason(byte: number): RejectReason {
  if (byte < OFF_VERSION) return 'bad-magic';
  if (byte < OFF_KEY_ID) return 'bad-version';
  if (byte < OFF_NONCE) return 'unknown-key';
  return 'bad-mac'; // nonce, ciphertext and tag are all covered by the MAC
}

describe('single-bit flips', () => {
  const fields = {
    ...OPEN_SSH,
    ports: [
      { proto: 'tcp', port: 22 },
      { proto: 'udp', port: 53 },
    ],
    allowIp: '2001:db8::7',
    durationSec: 600,
  } as const;
  const packet = sealPacket(ALICE, fields, nonceOf(1));

  test('all 1168 flips are rejected, each with the reason of its byte group', () => {
    const verifier = makeVerifier([ALICE]);
    const tally = new Map<RejectReason, number>();
    for (let byte = 0; byte < PACKET_SIZE; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = packet.slice();
        copy[byte]! ^= 1 << bit;
        const where = `byte ${byte} bit ${bit}`;
        let result: VerifyResult;
        try {
          result = verifier.verify(copy, NOW);
        } catch (err) {
          assert.fail(`${where}: verify threw ${String(err)}`);
        }
        if (!isRejectReason(result)) assert.fail(`${where}: expected a rejection, got ${JSON.stringify(result)}`);
        assert.equal(result, expectedReason(byte), where);
        tally.set(result, (tally.get(result) ?? 0) + 1);
      }
    }
    assert.deepEqual(Object.fromEntries(tally), { 'bad-magic': 8, 'bad-version': 8, 'unknown-key': 64, 'bad-mac': 1088 });
    // Nothing above touched the replay guard: the untouched packet still verifies, once.
    assert.equal(verifier.replay.size, 0);
    mustVerify(verifier.verify(packet, NOW));
    assert.equal(verifier.verify(packet, NOW), 'replay');
  });

  test('a key-id flip that lands on another known key fails the MAC, not the lookup', () => {
    const neighbourId = ALICE.keyId.slice();
    neighbourId[7]! ^= 0x01;
    const neighbour = fixedKey(9, { user: 'mallory', keyId: neighbourId });
    const verifier = makeVerifier([ALICE, neighbour]);
    const copy = packet.slice();
    copy[OFF_KEY_ID + 7]! ^= 0x01;
    assert.equal(verifier.verify(copy, NOW), 'bad-mac');
    // And a packet re-tagged under the other key id but sealed with ALICE's secret is no better.
    const forged = sealPacket({ ...ALICE, keyId: neighbourId }, fields, nonceOf(2));
    assert.equal(verifier.verify(forged, NOW), 'bad-mac');
  });
});
