/** Every single-bit flip, every truncation and extension of a valid SSH-key knock: refused with its position's reason, never thrown. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { SSH_OFF_CANDIDATE, SSH_OFF_EPHEMERAL, SSH_OFF_VERSION } from '../../../../src/protocol/ssh/index.js';
import { REJECT_REASONS, type RejectReason } from '../../../../src/protocol/index.js';
import { KEYS, NOW, knock, makeSshVerifier } from './fixtures.js';

function expected(byte: number): RejectReason {
  if (byte < SSH_OFF_VERSION) return 'bad-magic';
  if (byte < SSH_OFF_CANDIDATE) return 'bad-version';
  if (byte < SSH_OFF_EPHEMERAL) return 'unknown-key';
  return 'bad-signature'; // the signature covers everything before it, and itself is checked
}

describe('bit flips and lengths', () => {
  for (const key of KEYS) {
    test(`${key.type}: all ${knock(key).length * 8} flips refused with the reason of their byte`, () => {
      const verifier = makeSshVerifier([['alice', key]]);
      const packet = knock(key, { n: 99 });
      const tally = new Map<string, number>();
      for (let byte = 0; byte < packet.length; byte++) {
        for (let bit = 0; bit < 8; bit++) {
          const copy = packet.slice();
          copy[byte]! ^= 1 << bit;
          let result: unknown;
          try {
            result = verifier.verify(copy, NOW);
          } catch (err) {
            assert.fail(`byte ${byte} bit ${bit}: threw ${String(err)}`);
          }
          // A flip in an ECDSA s that only negates it mod n is impossible with one bit; every flip must fail.
          assert.equal(result, expected(byte), `byte ${byte} bit ${bit}`);
          tally.set(result, (tally.get(result) ?? 0) + 1);
        }
      }
      assert.equal(tally.get('bad-signature'), (packet.length - SSH_OFF_EPHEMERAL) * 8);
      assert.equal(verifier.replay.size, 0, 'no refused packet reached the replay guard');
      assert.equal(typeof verifier.verify(packet, NOW), 'object', 'the untouched packet still verifies');
    });

    test(`${key.type}: every truncation and extension is bad-length, never thrown`, () => {
      const verifier = makeSshVerifier([['alice', key]]);
      const packet = knock(key, { n: 98 });
      for (let length = 0; length < packet.length + 40; length++) {
        if (length === packet.length) continue;
        const copy = new Uint8Array(length);
        copy.set(packet.subarray(0, Math.min(length, packet.length)));
        const result = verifier.verify(copy, NOW);
        assert.ok((REJECT_REASONS as readonly string[]).includes(result as string), `length ${length}: ${String(result)}`);
        if (length >= 10) assert.equal(result, 'bad-length', `length ${length}`);
      }
    });
  }
});
