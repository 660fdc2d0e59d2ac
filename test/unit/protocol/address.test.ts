/** address.ts: parseIp/formatIp/canonicalIp against a table, and cross-checked with node:net isIP and the WHATWG URL serializer. */
import { strict as assert } from 'node:assert';
import { isIP } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { canonicalIp, formatIp, formatIpv4, formatIpv6, isV4Mapped, parseIp } from '../../../src/protocol/index.js';
import { toHex } from './fixtures.js';

/** [input, family, bytes as hex, canonicalIp]. */
const TABLE: ReadonlyArray<readonly [string, 4 | 6, string, string]> = [
  ['0.0.0.0', 4, '00000000', '0.0.0.0'],
  ['1.2.3.4', 4, '01020304', '1.2.3.4'],
  ['255.255.255.255', 4, 'ffffffff', '255.255.255.255'],
  ['10.0.0.1', 4, '0a000001', '10.0.0.1'],
  ['::', 6, '0'.repeat(32), '::'],
  ['::1', 6, `${'0'.repeat(30)}01`, '::1'],
  ['1::', 6, `0001${'0'.repeat(28)}`, '1::'],
  ['2001:db8::1', 6, '20010db8000000000000000000000001', '2001:db8::1'],
  ['2001:DB8:0:0::1', 6, '20010db8000000000000000000000001', '2001:db8::1'],
  ['2001:0db8:0000:0000:0000:0000:0000:0001', 6, '20010db8000000000000000000000001', '2001:db8::1'],
  ['2001:db8:0:1:1:1:1:1', 6, '20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
  ['2001:0:0:1:0:0:0:1', 6, '20010000000000010000000000000001', '2001:0:0:1::1'], // the longest run wins
  ['2001:db8:0:0:1:0:0:1', 6, '20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // equal runs: the first
  ['1:2:3:4:5:6:7:8', 6, '00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
  ['1:2:3:4:5:6:7::', 6, '00010002000300040005000600070000', '1:2:3:4:5:6:7:0'],
  ['::2:3:4:5:6:7:8', 6, '00000002000300040005000600070008', '0:2:3:4:5:6:7:8'],
  ['FFFF:ffff:FfFf::', 6, `ffffffffffff${'0'.repeat(20)}`, 'ffff:ffff:ffff::'],
  ['::ffff:1.2.3.4', 6, '00000000000000000000ffff01020304', '1.2.3.4'], // IPv4-mapped folds to IPv4
  ['::ffff:102:304', 6, '00000000000000000000ffff01020304', '1.2.3.4'],
  ['::1.2.3.4', 6, '00000000000000000000000001020304', '::102:304'], // IPv4-compatible does not
  ['1:2:3:4:5:6:1.2.3.4', 6, '00010002000300040005000601020304', '1:2:3:4:5:6:102:304'],
  ['64:ff9b::192.0.2.33', 6, '0064ff9b0000000000000000c0000221', '64:ff9b::c000:221'],
];

/** Strings that are not addresses, for parseIp and for isIP alike. */
const NOT_ADDRESSES = [
  '',
  ' ',
  '1.2.3',
  '1.2.3.4.5',
  '256.0.0.1',
  '1.2.3.256',
  '01.2.3.4',
  '1.2.3.04',
  '00.0.0.0',
  '1..2.3',
  '.1.2.3',
  '1.2.3.',
  '+1.2.3.4',
  '-1.2.3.4',
  '0x1.2.3.4',
  '1e1.2.3.4',
  ' 1.2.3.4',
  '1.2.3.4 ',
  '1.2.3.4\n',
  '1.2.3.4/32',
  '١.٢.٣.٤',
  'example.com',
  'localhost',
  ':',
  ':::',
  '::1:',
  ':1::',
  '1:::2',
  '1::2::3',
  '1:2:3:4:5:6:7',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7:8::',
  '::1:2:3:4:5:6:7:8',
  '00000::1',
  '12345::',
  'g::1',
  '[::1]',
  '::1/128',
  '1.2.3.4::',
  '::1.2.3.4.5',
  '::1.2.3',
  '::1.2.3.04',
  '::ffff:256.1.1.1',
  '::ffff:1.2.3.4:5',
  '1:2:3:4:5:6:7:1.2.3.4',
  '1::2:3:4:5:6:7:1.2.3.4',
  '::-1',
  ' ::1',
  '::1 ',
  'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555',
];

/** Zone indexes: node:net accepts them, the protocol deliberately does not (an address on the wire has no zone). */
const ZONED = ['fe80::1%eth0', 'fe80::1%1', '::%1', '1:2:3:4:5:6:7:8%eth0'];

describe('parseIp / formatIp / canonicalIp', () => {
  for (const [input, family, hex, canonical] of TABLE) {
    test(`${JSON.stringify(input)} -> ${canonical}`, () => {
      const ip = parseIp(input);
      assert.ok(ip !== null);
      assert.equal(ip.family, family);
      assert.equal(toHex(ip.bytes), hex);
      assert.equal(canonicalIp(input), canonical);
      const formatted = formatIp(ip);
      assert.equal(toHex(parseIp(formatted)!.bytes), hex, 'formatIp output parses back to the same bytes');
      if (!(family === 6 && isV4Mapped(ip.bytes))) assert.equal(formatted, canonical);
      assert.equal(canonicalIp(canonical), canonical, 'canonical text is a fixed point');
    });
  }

  test('non-addresses parse to null', () => {
    for (const s of [...NOT_ADDRESSES, ...ZONED]) {
      assert.equal(parseIp(s), null, JSON.stringify(s));
      assert.equal(canonicalIp(s), null, JSON.stringify(s));
    }
  });

  test('isV4Mapped', () => {
    assert.equal(isV4Mapped(parseIp('::ffff:1.2.3.4')!.bytes), true);
    assert.equal(isV4Mapped(parseIp('::ffff:0.0.0.0')!.bytes), true);
    assert.equal(isV4Mapped(parseIp('::1.2.3.4')!.bytes), false);
    assert.equal(isV4Mapped(parseIp('::fffe:1.2.3.4')!.bytes), false);
    assert.equal(isV4Mapped(parseIp('1::ffff:1.2.3.4')!.bytes), false);
    assert.equal(isV4Mapped(parseIp('1.2.3.4')!.bytes), false);
  });
});

describe('cross-check with node:net isIP', () => {
  test('the good/bad catalogue: parseIp agrees with isIP on validity and family', () => {
    for (const s of [...TABLE.map(([input]) => input), ...NOT_ADDRESSES]) {
      const ip = parseIp(s);
      assert.equal(ip === null ? 0 : ip.family, isIP(s), JSON.stringify(s));
    }
  });

  test('zone indexes are the one deliberate difference', () => {
    for (const s of ZONED) assert.equal(isIP(s), 6, `node:net accepts ${s}`);
  });

  test('property: random and near-miss address strings get the same verdict from both', () => {
    const alphabet = fc.constantFrom(...'0123456789abcdefABCDEF:.'.split(''), '::', '0.', '1.2.3.4', 'ffff', ':0:', '00');
    const soup = fc.array(alphabet, { maxLength: 24 }).map((parts) => parts.join(''));
    const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>): fc.Arbitrary<T> =>
      fc.oneof({ weight: 15, arbitrary: good }, { weight: 1, arbitrary: bad });
    const octet = mostly(fc.integer({ min: 0, max: 255 }).map(String), fc.constantFrom('00', '01', '256', '', '999'));
    const dotted = fc
      .oneof(
        { weight: 4, arbitrary: fc.tuple(octet, octet, octet, octet) },
        { weight: 1, arbitrary: fc.array(octet, { minLength: 3, maxLength: 5 }) },
      )
      .map((parts) => parts.join('.'));
    const group = mostly(fc.stringMatching(/^[0-9a-fA-F]{1,4}$/), fc.constantFrom('', '00000', 'g'));
    const nearMiss = fc
      .record({
        groups: fc.array(group, { minLength: 0, maxLength: 9 }),
        gap: fc.option(fc.nat({ max: 9 })),
        tail: fc.option(dotted, { freq: 3 }),
      })
      .map(({ groups, gap, tail }) => {
        const parts = [...groups];
        if (gap !== null) parts.splice(Math.min(gap, parts.length), 0, '');
        let text = parts.join(':');
        if (gap !== null && (text.startsWith(':') || text === '')) text = `:${text}`;
        if (gap !== null && text.endsWith(':')) text = `${text}:`;
        return tail === null ? text : `${text}${text === '' || text.endsWith(':') ? '' : ':'}${tail}`;
      });
    let valid = 0;
    fc.assert(
      fc.property(fc.oneof(soup, nearMiss, dotted), (s) => {
        const ip = parseIp(s);
        const family = isIP(s);
        if (family !== 0) valid++;
        assert.equal(ip === null ? 0 : ip.family, family, JSON.stringify(s));
      }),
      { numRuns: 10_000 },
    );
    assert.ok(valid > 1_000, `only ${valid} of 10000 strings were addresses: the generator is too weak`);
  });

  test('property: formatted addresses are valid for isIP and parse back to the same bytes', () => {
    const word = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(word, { minLength: 8, maxLength: 8 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (words, v4) => {
        const bytes = Uint8Array.from(words.flatMap((w) => [w >> 8, w & 0xff]));
        const text6 = formatIpv6(bytes);
        assert.equal(isIP(text6), 6, text6);
        assert.equal(toHex(parseIp(text6)!.bytes), toHex(bytes));
        // The WHATWG URL serializer implements the same RFC 5952 rules (lowercase, longest run >= 2, first on ties).
        assert.equal(`[${text6}]`, new URL(`http://[${text6}]/`).hostname);
        const text4 = formatIpv4(v4);
        assert.equal(isIP(text4), 4, text4);
        assert.equal(toHex(parseIp(text4)!.bytes), toHex(v4));
      }),
      { numRuns: 10_000 },
    );
  });

  test('property: canonicalIp is a fixed point and agrees with isIP', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), (s) => {
        const canonical = canonicalIp(s);
        if (isIP(s) === 0) return; // fc.ipV4Extended produces octal/hex forms that neither accepts
        assert.ok(canonical !== null, `${s} is an address`);
        assert.equal(canonicalIp(canonical), canonical);
        assert.notEqual(isIP(canonical), 0);
      }),
      { numRuns: 10_000 },
    );
  });
});
