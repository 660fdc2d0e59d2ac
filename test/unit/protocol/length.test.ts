/** Every truncation (0..145 bytes) and extension (+1..+64 bytes, random and zero) of a valid packet is 'bad-length'; the shared bad-input catalogue gets its reasons. */
import { strict as assert } from 'node:assert';
import { randomFillSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { PACKET_SIZE, sealPacket } from '../../../src/protocol/index.js';
import { BAD_INPUTS, MAX_UDP_PAYLOAD } from '../../support/bad-inputs.js';
import { ALICE, NOW, OPEN_SSH, makeVerifier, mustVerify, nonceOf } from './fixtures.js';

describe('length', () => {
  const packet = sealPacket(ALICE, OPEN_SSH, nonceOf(1));
  const verifier = makeVerifier([ALICE]);

  test('every truncation, 0..145 bytes, is bad-length', () => {
    for (let len = 0; len < PACKET_SIZE; len++) assert.equal(verifier.verify(packet.slice(0, len), NOW), 'bad-length', `${len} bytes`);
    // Dropping bytes from the front instead of the end, too.
    for (let drop = 1; drop <= PACKET_SIZE; drop++)
      assert.equal(verifier.verify(packet.slice(drop), NOW), 'bad-length', `-${drop} in front`);
  });

  test('every extension, +1..+64 bytes of zeros or random bytes, is bad-length', () => {
    for (let extra = 1; extra <= 64; extra++) {
      for (const fill of ['zero', 'random'] as const) {
        const longer = new Uint8Array(PACKET_SIZE + extra);
        longer.set(packet);
        if (fill === 'random') randomFillSync(longer, PACKET_SIZE);
        assert.equal(verifier.verify(longer, NOW), 'bad-length', `+${extra} ${fill}`);
      }
    }
  });

  test('none of that reached the replay guard: the packet itself still verifies', () => {
    assert.equal(verifier.replay.size, 0);
    mustVerify(verifier.verify(packet, NOW));
  });
});

describe('shared bad-input catalogue (test/support/bad-inputs.ts)', () => {
  const verifier = makeVerifier([ALICE]);
  test('the catalogue holds the inputs the suites rely on', () => {
    const lengths = new Set(BAD_INPUTS.map((b) => b.bytes.length));
    for (const len of [0, 1, PACKET_SIZE - 1, PACKET_SIZE, PACKET_SIZE + 1, MAX_UDP_PAYLOAD])
      assert.ok(lengths.has(len), `a ${len}-byte input`);
    assert.ok(BAD_INPUTS.some((b) => b.bytes.length === PACKET_SIZE && b.bytes.every((x) => x === 0)));
    assert.ok(BAD_INPUTS.some((b) => b.bytes.length === PACKET_SIZE && b.bytes.every((x) => x === 0xff)));
    assert.equal(new Set(BAD_INPUTS.map((b) => b.name)).size, BAD_INPUTS.length, 'names are unique');
  });
  for (const input of BAD_INPUTS) {
    test(`${input.name}: ${input.reason}`, () => assert.equal(verifier.verify(input.bytes, NOW), input.reason));
  }
});
