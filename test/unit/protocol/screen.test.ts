// screen() + authenticate() is verify() in two steps: same answer for every packet, and screen()
// never looks past the key id (a packet with a known id passes it whatever its tag).
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { PACKET_SIZE, sealPacket, type VerifyResult } from '../../../src/protocol/index.js';
import { BAD_INPUTS } from '../../support/bad-inputs.js';
import { ALICE, BOB, NOW, OPEN_SSH, SKEW, makeVerifier, nonceOf } from './fixtures.js';

function inTwoSteps(packet: Uint8Array, nowMs: number, verifier = makeVerifier([ALICE, BOB])): VerifyResult {
  const entry = verifier.screen(packet);
  return typeof entry === 'string' ? entry : verifier.authenticate(packet, entry, nowMs);
}

test('the hostile-input catalogue gets the same reason from screen() as from verify()', () => {
  for (const { name, bytes, reason } of BAD_INPUTS) {
    assert.equal(makeVerifier([ALICE, BOB]).screen(bytes), reason, name);
    assert.equal(makeVerifier([ALICE, BOB]).verify(bytes, NOW), reason, name);
  }
});

test('a known key id passes screen() whatever the rest holds; authenticate() then decides', () => {
  const packet = sealPacket(ALICE, OPEN_SSH, nonceOf(1));
  const verifier = makeVerifier([ALICE, BOB]);
  const entry = verifier.screen(packet);
  assert.equal(typeof entry === 'object' && entry.user, 'alice');
  const forged = packet.slice();
  forged[PACKET_SIZE - 1]! ^= 1;
  assert.equal(verifier.screen(forged), entry, 'the tag is not looked at');
  assert.equal(inTwoSteps(forged, NOW, verifier), 'bad-mac');
  const ok = inTwoSteps(packet, NOW, verifier);
  assert.equal(typeof ok === 'object' && ok.user, 'alice');
  assert.equal(inTwoSteps(packet, NOW, verifier), 'replay');
});

test('property: for mutated packets and clocks, two steps answer exactly what verify() answers', () => {
  const packets = [sealPacket(ALICE, OPEN_SSH, nonceOf(7)), sealPacket(BOB, { ...OPEN_SSH, action: 'close' }, nonceOf(8))];
  fc.assert(
    fc.property(
      fc.nat({ max: packets.length - 1 }),
      fc.array(fc.tuple(fc.nat({ max: PACKET_SIZE - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      fc.integer({ min: -2 * SKEW, max: 2 * SKEW }),
      fc.nat({ max: PACKET_SIZE + 4 }),
      (which, sets, skew, length) => {
        const bytes = new Uint8Array(length >= PACKET_SIZE - 2 ? PACKET_SIZE : length);
        bytes.set(packets[which]!.subarray(0, bytes.length));
        for (const [at, value] of sets) if (at < bytes.length) bytes[at] = value;
        const expected = makeVerifier([ALICE, BOB]).verify(bytes, NOW + skew);
        assert.deepEqual(inTwoSteps(bytes, NOW + skew), expected);
      },
    ),
    { numRuns: 3_000 },
  );
});
