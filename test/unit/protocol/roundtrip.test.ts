/** sealPacket -> Verifier.verify round trip for every field combination: actions, 1..8 tcp/udp ports, allowIp forms, durations. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { sealPacket, type Action, type KnockFields, type PortSpec } from '../../../src/protocol/index.js';
import { ALICE, NOW, makeVerifier, mustVerify, nonceOf, toHex } from './fixtures.js';

/** [what the caller passes, what the verifier must return]. */
const ALLOW_IPS: ReadonlyArray<readonly [string | null, string | null]> = [
  [null, null],
  ['192.0.2.1', '192.0.2.1'],
  ['255.255.255.255', '255.255.255.255'],
  ['2001:db8::1', '2001:db8::1'],
  ['2001:DB8:0:0::1', '2001:db8::1'],
  ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
  ['::ffff:1.2.3.4', '1.2.3.4'],
  ['::FFFF:c633:6409', '198.51.100.9'],
  ['fe80:0:0:0:1:0:0:0', 'fe80::1:0:0:0'], // two equal zero runs: the first is compressed
  ['fe80:0:0:1:0:0:0:0', 'fe80:0:0:1::'], // the longest zero run is compressed
  ['::1', '::1'],
];

const OPEN: KnockFields = { timestampMs: NOW, action: 'open', ports: [{ proto: 'udp', port: 500 }], allowIp: '10.0.0.1', durationSec: 30 };

type ProtoMix = 'tcp' | 'udp' | 'mixed';

function portsOf(count: number, mix: ProtoMix): PortSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    proto: mix === 'mixed' ? (i % 2 === 0 ? 'tcp' : 'udp') : mix,
    port: [22, 443, 53, 65535, 1, 8080, 51820, 123][i] as number,
  }));
}

describe('round trip of every field combination', () => {
  const verifier = makeVerifier([ALICE], { capacity: 100_000 });
  let n = 0;
  let checked = 0;
  for (const action of ['open', 'close'] as Action[]) {
    for (const durationSec of action === 'open' ? [0, 1, 86_400] : [0]) {
      test(`${action}, duration ${durationSec}: 1..8 ports x tcp/udp/mixed x every allowIp form`, () => {
        for (let count = 1; count <= 8; count++) {
          for (const mix of ['tcp', 'udp', 'mixed'] as ProtoMix[]) {
            for (const [given, canonical] of ALLOW_IPS) {
              const timestampMs = NOW - 5_000 + (n % 10_000);
              const fields: KnockFields = { timestampMs, action, ports: portsOf(count, mix), allowIp: given, durationSec };
              const nonce = nonceOf(++n);
              const result = mustVerify(verifier.verify(sealPacket(ALICE, fields, nonce), NOW));
              assert.deepEqual(result, {
                ...fields,
                allowIp: canonical,
                user: 'alice',
                keyIdHex: toHex(ALICE.keyId),
                packetId: toHex(ALICE.keyId) + toHex(nonce),
              });
              checked++;
            }
          }
        }
      });
    }
  }
  test('covered every combination', () => assert.equal(checked, (3 + 1) * 8 * 3 * ALLOW_IPS.length));
});

describe('equivalent inputs encode to identical packets', () => {
  const base: KnockFields = { timestampMs: NOW, action: 'open', ports: [{ proto: 'tcp', port: 22 }], allowIp: null, durationSec: 60 };
  const seal = (allowIp: string): string => toHex(sealPacket(ALICE, { ...base, allowIp }, nonceOf(7)));
  test('IPv4-mapped IPv6 encodes exactly as the IPv4 address', () => {
    assert.equal(seal('::ffff:1.2.3.4'), seal('1.2.3.4'));
    assert.equal(seal('::ffff:102:304'), seal('1.2.3.4'));
  });
  test('IPv6 spellings of one address encode identically', () => {
    assert.equal(seal('2001:DB8:0:0::1'), seal('2001:db8::1'));
    assert.equal(seal('2001:db8:0:0:0:0:0:1'), seal('2001:db8::1'));
  });
  test('IPv4-compatible (::1.2.3.4) stays IPv6, distinct from 1.2.3.4', () => {
    assert.notEqual(seal('::1.2.3.4'), seal('1.2.3.4'));
  });
  test('sealing is deterministic and depends on the nonce', () => {
    assert.equal(seal('1.2.3.4'), seal('1.2.3.4'));
    assert.notEqual(toHex(sealPacket(ALICE, base, nonceOf(1))), toHex(sealPacket(ALICE, base, nonceOf(2))));
  });
});

describe('verify accepts the packet however it is held in memory', () => {
  test('a Buffer, and a view at an odd offset into a larger buffer (as dgram delivers)', () => {
    const verifier = makeVerifier([ALICE]);
    const a = sealPacket(ALICE, { ...OPEN, timestampMs: NOW }, nonceOf(100));
    mustVerify(verifier.verify(Buffer.from(a), NOW));
    const b = sealPacket(ALICE, { ...OPEN, timestampMs: NOW }, nonceOf(101));
    const big = new Uint8Array(1000).fill(0xee);
    big.set(b, 333);
    mustVerify(verifier.verify(big.subarray(333, 333 + b.length), NOW));
    assert.equal(verifier.verify(big.subarray(333, 333 + b.length), NOW), 'replay');
  });
});

describe('sealPacket refuses fields no valid packet may carry', () => {
  const bad: ReadonlyArray<readonly [string, Partial<KnockFields>]> = [
    ['no ports', { ports: [] }],
    ['nine ports', { ports: portsOf(8, 'tcp').concat([{ proto: 'udp', port: 9 }]) }],
    ['port 0', { ports: [{ proto: 'tcp', port: 0 }] }],
    ['port 65536', { ports: [{ proto: 'tcp', port: 65536 }] }],
    ['fractional port', { ports: [{ proto: 'tcp', port: 22.5 }] }],
    [
      'duplicate port',
      {
        ports: [
          { proto: 'tcp', port: 22 },
          { proto: 'tcp', port: 22 },
        ],
      },
    ],
    ['duration 86401', { durationSec: 86_401 }],
    ['negative duration', { durationSec: -1 }],
    ['fractional duration', { durationSec: 1.5 }],
    ['close with a duration', { action: 'close', durationSec: 1 }],
    ['negative timestamp', { timestampMs: -1 }],
    ['fractional timestamp', { timestampMs: NOW + 0.5 }],
    ['unsafe timestamp', { timestampMs: 2 ** 53 }],
    ['allowIp not an address', { allowIp: 'example.com' }],
    ['allowIp 0.0.0.0', { allowIp: '0.0.0.0' }],
    ['allowIp ::', { allowIp: '::' }],
    ['allowIp ::ffff:0.0.0.0', { allowIp: '::ffff:0.0.0.0' }],
    ['allowIp with a zone index', { allowIp: 'fe80::1%eth0' }],
  ];
  for (const [name, change] of bad) {
    test(name, () => assert.throws(() => sealPacket(ALICE, { ...OPEN, ...change }, nonceOf(1)), Error));
  }
  test('a nonce of the wrong length', () => {
    assert.throws(() => sealPacket(ALICE, OPEN, new Uint8Array(23)), /nonce/);
    assert.throws(() => sealPacket(ALICE, OPEN, new Uint8Array(25)), /nonce/);
  });
  test('tcp/22 and udp/22 together are two distinct ports, not a duplicate', () => {
    const fields = {
      ...OPEN,
      ports: [
        { proto: 'tcp', port: 22 },
        { proto: 'udp', port: 22 },
      ] as PortSpec[],
    };
    const result = mustVerify(makeVerifier([ALICE]).verify(sealPacket(ALICE, fields, nonceOf(2)), NOW));
    assert.deepEqual(result.ports, fields.ports);
  });
});
