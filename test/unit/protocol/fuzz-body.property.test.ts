/** Property: authentic packets (real key, raw XChaCha20 + HMAC) with forged 80-byte bodies: decodeBody never throws, re-encodes what it accepts, verify agrees. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { xchacha20 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import {
  BODY_OFF_SERVER,
  BODY_SIZE,
  MAGIC,
  OFF_BODY,
  OFF_KEY_ID,
  OFF_NONCE,
  OFF_TAG,
  PACKET_SIZE,
  SERVER_TAG_SIZE,
  VERSION,
  decodeBody,
  deriveKeys,
  encodeBody,
  serverTag,
} from '../../../src/protocol/index.js';
import { ALICE, NOW, SERVER, makeVerifier, nonceOf, toHex, isRejectReason } from './fixtures.js';

const RUNS = 10_000;
const { encKey, macKey } = deriveKeys(ALICE.secret);
const TAG = serverTag(SERVER);

/** Seals an arbitrary body the way sealPacket would, bypassing encodeBody. */
function sealRawBody(body: Uint8Array, nonce: Uint8Array): Uint8Array {
  const packet = new Uint8Array(PACKET_SIZE);
  packet[0] = MAGIC;
  packet[1] = VERSION;
  packet.set(ALICE.keyId, OFF_KEY_ID);
  packet.set(nonce, OFF_NONCE);
  packet.set(xchacha20(encKey, nonce, body), OFF_BODY);
  packet.set(hmac(sha256, macKey, packet.subarray(0, OFF_TAG)), OFF_TAG);
  return packet;
}

const byte = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.tuple(u16, u16).map(([hi, lo]) => hi * 0x10000 + lo);
const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
const mostly = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: other, weight: 1 });

/** Family byte and 16 address bytes: mostly well-formed, sometimes the forms decodeBody must refuse. */
const address = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ family: 0, addr: new Uint8Array(16) }) },
  { weight: 3, arbitrary: bytes(4).map((b) => ({ family: 4, addr: Uint8Array.from([...b, ...new Uint8Array(12)]) })) },
  { weight: 2, arbitrary: bytes(16).map((b) => ({ family: 6, addr: b })) },
  {
    weight: 3,
    arbitrary: fc.array(fc.oneof(fc.constant(0), fc.constant(0), u16), { minLength: 8, maxLength: 8 }).map((words) => ({
      family: 6,
      addr: Uint8Array.from(words.flatMap((w) => [w >> 8, w & 0xff])),
    })),
  },
  { weight: 1, arbitrary: bytes(4).map((b) => ({ family: 6, addr: Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...b]) })) },
  { weight: 1, arbitrary: fc.record({ family: fc.constantFrom(0, 4, 6), addr: bytes(16) }) },
  { weight: 1, arbitrary: fc.record({ family: byte, addr: bytes(16) }) },
);

const slot = fc.record({ proto: mostly(fc.constantFrom(6, 17), byte), port: mostly(u16, fc.constantFrom(0, 1, 22, 65535)) });

const structuredBody: fc.Arbitrary<Uint8Array> = fc
  .record({
    tsHi: mostly(fc.integer({ min: 0, max: 0x1f_ffff }), fc.oneof(fc.constantFrom(0x1f_ffff, 0x20_0000, 0xffff_ffff), u32)),
    tsLo: u32,
    action: mostly(fc.constantFrom(1, 2), byte),
    count: mostly(fc.integer({ min: 1, max: 8 }), byte),
    duration: mostly(
      fc.oneof(fc.constant(0), fc.constantFrom(1, 86_400), fc.integer({ min: 0, max: 86_400 })),
      fc.oneof(fc.constant(86_401), u32),
    ),
    address,
    tag: mostly(fc.constant(TAG), bytes(SERVER_TAG_SIZE)),
    slots: fc.array(slot, { minLength: 8, maxLength: 8 }),
    zeroUnusedSlots: mostly(fc.constant(true), fc.constant(false)),
    padding: mostly(fc.constant(new Uint8Array(9)), bytes(9)),
    overrides: mostly(
      fc.constant([] as Array<[number, number]>),
      fc.array(fc.tuple(fc.nat({ max: BODY_SIZE - 1 }), byte), { maxLength: 3 }),
    ),
  })
  .map((f) => {
    const body = new Uint8Array(BODY_SIZE);
    const view = new DataView(body.buffer);
    view.setUint32(0, f.tsHi);
    view.setUint32(4, f.tsLo);
    body[8] = f.action;
    body[9] = f.count;
    view.setUint32(10, f.duration);
    body[14] = f.address.family;
    body.set(f.address.addr, 15);
    body.set(f.tag, BODY_OFF_SERVER);
    f.slots.forEach((s, i) => {
      if (f.zeroUnusedSlots && i >= f.count) return;
      body[47 + 3 * i] = s.proto;
      view.setUint16(48 + 3 * i, s.port);
    });
    body.set(f.padding, 71);
    for (const [at, value] of f.overrides) body[at] = value;
    return body;
  });

const anyBody = fc.oneof({ arbitrary: bytes(BODY_SIZE), weight: 1 }, { arbitrary: structuredBody, weight: 4 });

describe('authentic packets with forged bodies', () => {
  test('decodeBody never throws; what it accepts re-encodes identically; verify agrees', () => {
    let accepted = 0;
    let n = 0;
    const reasons = new Set<string>();
    fc.assert(
      fc.property(anyBody, (body) => {
        const original = body.slice();
        const decoded = decodeBody(body);
        assert.equal(toHex(body), toHex(original), 'decodeBody must not modify its input');
        const verifier = makeVerifier([ALICE]);
        const packet = sealRawBody(body, nonceOf(n++));
        if (typeof decoded === 'string') {
          assert.ok(isRejectReason(decoded));
          reasons.add(decoded);
          assert.equal(verifier.verify(packet, NOW), decoded);
          return;
        }
        accepted++;
        const again = new Uint8Array(BODY_SIZE);
        encodeBody(decoded, body.subarray(BODY_OFF_SERVER, BODY_OFF_SERVER + SERVER_TAG_SIZE), again);
        assert.equal(toHex(again), toHex(body), 'decodeBody accepted a body encodeBody would not produce');
        // At its own timestamp the packet is in the window, so only the server tag decides.
        const result = verifier.verify(packet, decoded.timestampMs);
        if (toHex(body.subarray(BODY_OFF_SERVER, BODY_OFF_SERVER + SERVER_TAG_SIZE)) !== toHex(TAG)) {
          assert.equal(result, 'wrong-server');
          return;
        }
        assert.equal(typeof result, 'object');
        assert.deepEqual(result, {
          ...decoded,
          user: 'alice',
          keyIdHex: toHex(ALICE.keyId),
          packetId: toHex(packet.subarray(OFF_KEY_ID, OFF_BODY)),
        });
      }),
      { numRuns: RUNS },
    );
    // The property is only as good as its generator: make sure both sides were exercised.
    assert.ok(accepted > RUNS / 20, `only ${accepted} of ${RUNS} bodies were accepted`);
    for (const reason of ['bad-action', 'bad-ports', 'bad-address', 'bad-duration', 'bad-padding', 'future'])
      assert.ok(reasons.has(reason), `no body was rejected with ${reason}`);
  });
});
