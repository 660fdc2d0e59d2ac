/** ports.ts: parsePortSpec accepts "22", "tcp/22", "udp/53" and refuses everything else; format/proto helpers. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatPortSpec, parsePortSpec, protoFromNumber, protoNumber, samePort, type PortSpec } from '../../../src/protocol/index.js';

describe('parsePortSpec', () => {
  const good: ReadonlyArray<readonly [string, PortSpec]> = [
    ['22', { proto: 'tcp', port: 22 }],
    ['tcp/22', { proto: 'tcp', port: 22 }],
    ['udp/53', { proto: 'udp', port: 53 }],
    ['1', { proto: 'tcp', port: 1 }],
    ['65535', { proto: 'tcp', port: 65535 }],
    ['udp/65535', { proto: 'udp', port: 65535 }],
    ['TCP/443', { proto: 'tcp', port: 443 }],
    ['Udp/51820', { proto: 'udp', port: 51820 }],
    [' 22 ', { proto: 'tcp', port: 22 }],
  ];
  for (const [text, spec] of good)
    test(`${JSON.stringify(text)} -> ${spec.proto}/${spec.port}`, () => assert.deepEqual(parsePortSpec(text), spec));

  const bad = [
    '0',
    '65536',
    '99999',
    '100000',
    'tcp/',
    'sctp/1',
    '022',
    '00',
    ' ',
    '',
    '-1',
    '+22',
    '22.0',
    '0x16',
    '1e3',
    'tcp/022',
    'tcp/0',
    'udp/65536',
    'tcp//22',
    'tcp:22',
    '/22',
    'tcp',
    '22/tcp',
    'tcp/22/udp',
    'tcp 22',
    'tcp/ 22',
    '2 2',
    '２２',
    'icmp/1',
    'tcp/-1',
    'NaN',
    'Infinity',
  ];
  test('malformed specs and out-of-range ports are refused', () => {
    for (const text of bad) assert.equal(parsePortSpec(text), null, JSON.stringify(text));
  });

  test('property: formatPortSpec and parsePortSpec round-trip every port of both protocols', () => {
    fc.assert(
      fc.property(fc.constantFrom('tcp' as const, 'udp' as const), fc.integer({ min: 1, max: 65535 }), (proto, port) => {
        const spec = { proto, port };
        assert.equal(formatPortSpec(spec), `${proto}/${port}`);
        assert.deepEqual(parsePortSpec(formatPortSpec(spec)), spec);
        if (proto === 'tcp') assert.deepEqual(parsePortSpec(String(port)), spec);
      }),
      { numRuns: 10_000 },
    );
  });

  test('property: any other integer is refused', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: -1_000_000, max: 0 }), fc.integer({ min: 65536, max: 10_000_000 })), (n) => {
        assert.equal(parsePortSpec(String(n)), null);
        assert.equal(parsePortSpec(`udp/${n}`), null);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('protocol numbers', () => {
  test('tcp is 6, udp is 17, nothing else has a name', () => {
    assert.equal(protoNumber('tcp'), 6);
    assert.equal(protoNumber('udp'), 17);
    assert.equal(protoFromNumber(6), 'tcp');
    assert.equal(protoFromNumber(17), 'udp');
    for (let n = 0; n < 256; n++) if (n !== 6 && n !== 17) assert.equal(protoFromNumber(n), null, String(n));
  });

  test('samePort compares protocol and port', () => {
    assert.equal(samePort({ proto: 'tcp', port: 22 }, { proto: 'tcp', port: 22 }), true);
    assert.equal(samePort({ proto: 'tcp', port: 22 }, { proto: 'udp', port: 22 }), false);
    assert.equal(samePort({ proto: 'tcp', port: 22 }, { proto: 'tcp', port: 23 }), false);
  });
});
