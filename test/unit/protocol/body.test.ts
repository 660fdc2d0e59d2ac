/** encodeBody/decodeBody: the 80-byte layout, strict decoding of every malformed field, and exhaustive single-byte changes. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import {
  BODY_OFF_ACTION,
  BODY_OFF_ADDRESS,
  BODY_OFF_DURATION,
  BODY_OFF_FAMILY,
  BODY_OFF_PADDING,
  BODY_OFF_PORT_COUNT,
  BODY_OFF_PORTS,
  BODY_OFF_SERVER,
  BODY_SIZE,
  SERVER_TAG_SIZE,
  decodeBody,
  encodeBody,
  serverTag,
  type KnockFields,
} from '../../../src/protocol/index.js';
import { NOW, SERVER, toHex, isRejectReason } from './fixtures.js';

const TAG = serverTag(SERVER);

function encode(fields: KnockFields): Uint8Array {
  const out = new Uint8Array(BODY_SIZE);
  encodeBody(fields, TAG, out);
  return out;
}

const SAMPLES: readonly KnockFields[] = [
  { timestampMs: NOW, action: 'open', ports: [{ proto: 'tcp', port: 22 }], allowIp: null, durationSec: 0 },
  {
    timestampMs: NOW,
    action: 'open',
    ports: [
      { proto: 'tcp', port: 22 },
      { proto: 'udp', port: 22 },
      { proto: 'udp', port: 65535 },
    ],
    allowIp: '192.0.2.200',
    durationSec: 86_400,
  },
  { timestampMs: NOW, action: 'close', ports: [{ proto: 'udp', port: 1 }], allowIp: '2001:db8:0:1::', durationSec: 0 },
];

describe('body layout', () => {
  test('fields sit at their documented offsets', () => {
    const body = encode(SAMPLES[1]!);
    const view = new DataView(body.buffer);
    assert.equal(view.getBigUint64(0), BigInt(NOW));
    assert.equal(body[BODY_OFF_ACTION], 1);
    assert.equal(body[BODY_OFF_PORT_COUNT], 3);
    assert.equal(view.getUint32(BODY_OFF_DURATION), 86_400);
    assert.equal(body[BODY_OFF_FAMILY], 4);
    assert.deepEqual([...body.subarray(BODY_OFF_ADDRESS, BODY_OFF_ADDRESS + 16)], [192, 0, 2, 200, ...new Array<number>(12).fill(0)]);
    assert.equal(toHex(body.subarray(BODY_OFF_SERVER, BODY_OFF_SERVER + SERVER_TAG_SIZE)), toHex(TAG));
    assert.deepEqual([...body.subarray(BODY_OFF_PORTS, BODY_OFF_PORTS + 9)], [6, 0, 22, 17, 0, 22, 17, 0xff, 0xff]);
    assert.ok(
      body.subarray(BODY_OFF_PORTS + 9).every((b) => b === 0),
      'unused slots and padding are zero',
    );
  });

  test('timestamps 0 and 2^53 - 1 round-trip; a high word above 0x1fffff is refused as future', () => {
    for (const timestampMs of [0, 1, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      const decoded = decodeBody(encode({ ...SAMPLES[0]!, timestampMs }));
      assert.equal(typeof decoded === 'object' && decoded.timestampMs, timestampMs);
    }
    const body = encode(SAMPLES[0]!);
    new DataView(body.buffer).setUint32(0, 0x20_0000);
    assert.equal(decodeBody(body), 'future');
    new DataView(body.buffer).setUint32(0, 0xffff_ffff);
    assert.equal(decodeBody(body), 'future');
  });
});

describe('strict decoding', () => {
  const cases: ReadonlyArray<readonly [string, string, (b: Uint8Array, v: DataView) => void]> = [
    ['action 0', 'bad-action', (b) => (b[BODY_OFF_ACTION] = 0)],
    ['action 3', 'bad-action', (b) => (b[BODY_OFF_ACTION] = 3)],
    ['port count 0', 'bad-ports', (b) => (b[BODY_OFF_PORT_COUNT] = 0)],
    ['port count 9', 'bad-ports', (b) => (b[BODY_OFF_PORT_COUNT] = 9)],
    ['port count beyond the filled slots', 'bad-ports', (b) => (b[BODY_OFF_PORT_COUNT] = 2)],
    ['protocol 0', 'bad-ports', (b) => (b[BODY_OFF_PORTS] = 0)],
    ['protocol 132 (sctp)', 'bad-ports', (b) => (b[BODY_OFF_PORTS] = 132)],
    ['port 0', 'bad-ports', (_, v) => v.setUint16(BODY_OFF_PORTS + 1, 0)],
    [
      'the same port twice',
      'bad-ports',
      (b) => {
        b[BODY_OFF_PORT_COUNT] = 2;
        b.copyWithin(BODY_OFF_PORTS + 3, BODY_OFF_PORTS, BODY_OFF_PORTS + 3);
      },
    ],
    ['an unused slot not zero', 'bad-ports', (b) => (b[BODY_OFF_PADDING - 1] = 1)],
    ['family 5', 'bad-address', (b) => (b[BODY_OFF_FAMILY] = 5)],
    ['family source with an address', 'bad-address', (b) => (b[BODY_OFF_ADDRESS + 15] = 1)],
    ['family 4, 0.0.0.0', 'bad-address', (b) => (b[BODY_OFF_FAMILY] = 4)],
    [
      'family 4, bytes after the fourth',
      'bad-address',
      (b) => {
        b[BODY_OFF_FAMILY] = 4;
        b.set([10, 0, 0, 1], BODY_OFF_ADDRESS);
        b[BODY_OFF_ADDRESS + 4] = 1;
      },
    ],
    ['family 6, ::', 'bad-address', (b) => (b[BODY_OFF_FAMILY] = 6)],
    [
      'family 6, IPv4-mapped',
      'bad-address',
      (b) => {
        b[BODY_OFF_FAMILY] = 6;
        b.set([0xff, 0xff, 10, 0, 0, 1], BODY_OFF_ADDRESS + 10);
      },
    ],
    ['duration 86401', 'bad-duration', (_, v) => v.setUint32(BODY_OFF_DURATION, 86_401)],
    ['duration 2^32 - 1', 'bad-duration', (_, v) => v.setUint32(BODY_OFF_DURATION, 0xffff_ffff)],
    [
      'close with a duration',
      'bad-duration',
      (b, v) => {
        b[BODY_OFF_ACTION] = 2;
        v.setUint32(BODY_OFF_DURATION, 1);
      },
    ],
    ['padding byte 71', 'bad-padding', (b) => (b[BODY_OFF_PADDING] = 1)],
    ['padding byte 79', 'bad-padding', (b) => (b[BODY_SIZE - 1] = 0x80)],
  ];
  for (const [name, reason, spoil] of cases) {
    test(`${name}: ${reason}`, () => {
      const body = encode(SAMPLES[0]!);
      assert.equal(typeof decodeBody(body), 'object');
      spoil(body, new DataView(body.buffer));
      assert.equal(decodeBody(body), reason);
    });
  }
});

describe('every single-byte change of a valid body', () => {
  test('never throws; each accepted variant re-encodes to itself; padding changes are always refused', () => {
    let accepted = 0;
    for (const fields of SAMPLES) {
      const valid = encode(fields);
      for (let at = 0; at < BODY_SIZE; at++) {
        for (let value = 0; value < 256; value++) {
          if (value === valid[at]) continue;
          const body = valid.slice();
          body[at] = value;
          const decoded = decodeBody(body);
          if (typeof decoded === 'string') {
            assert.ok(isRejectReason(decoded));
            continue;
          }
          accepted++;
          assert.ok(at < BODY_OFF_PADDING, `padding byte ${at} = ${value} accepted`);
          const again = new Uint8Array(BODY_SIZE);
          encodeBody(decoded, body.subarray(BODY_OFF_SERVER, BODY_OFF_SERVER + SERVER_TAG_SIZE), again);
          assert.equal(toHex(again), toHex(body), `byte ${at} = ${value}`);
        }
      }
    }
    assert.ok(accepted > 1000, `only ${accepted} variants accepted`);
  });
});
