/**
 * The plaintext fields, strictly: round trips for everything an encoder may write, and the cases
 * fwknop's own test suite publishes as hostile (perl/FKO/t/04_fuzzing.t, test/spa_fuzzing.py):
 * over-long and forbidden user names, bad access messages (999.999.999.999, tcp/123456, ...), bad
 * message types and client timeouts, wrong digests. Each is sealed with a correct HMAC and digest,
 * so the field itself is what gets refused, with its own reason.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import {
  appendDigest,
  decodeMessage,
  encodeBase64Text,
  encodeMessage,
  isValidUsername,
  type DigestType,
  type FwknopFields,
} from '../../../src/protocol/fwknop/index.js';
import { craft, FIELDS, makeVerifier, mustVerify, NOW, NOW_SEC } from './fixtures.js';

const b64 = encodeBase64Text;
/** The encoded fields (no digest) with some of them replaced. */
function encoded(
  o: { rand?: string; user?: string; ts?: string; ver?: string; type?: string; msg?: string; extra?: string[] } = {},
): string {
  return [
    o.rand ?? '1234567890123456',
    o.user ?? b64('root'),
    o.ts ?? String(NOW_SEC),
    o.ver ?? '3.0.0',
    o.type ?? '1',
    o.msg ?? b64('198.51.100.7,tcp/22'),
    ...(o.extra ?? []),
  ].join(':');
}
const verdict = (packet: Uint8Array): string => {
  const r = makeVerifier().verify(packet, NOW);
  return typeof r === 'string' ? r : 'accepted';
};

describe('fwknop message: encode and decode', () => {
  const cases: Array<[string, Partial<FwknopFields>]> = [
    ['one port for an address', {}],
    [
      'the source address, eight ports',
      { allowIp: null, ports: [1, 2, 3, 4, 5, 6, 7, 65535].map((port, i) => ({ proto: i % 2 ? 'udp' : 'tcp', port })) },
    ],
    ['a client timeout (type 3)', { clientTimeoutSec: 65_536 }],
    ['a 48-byte user name of every allowed kind of character', { username: "a-Z_0.9 !#$%&'()@^`{}~".padEnd(48, 'x') }],
  ];
  for (const digest of ['md5', 'sha1', 'sha256', 'sha384', 'sha512'] as DigestType[]) cases.push([`${digest} digest`, { digest }]);
  for (const [name, over] of cases) {
    test(`round trip: ${name}`, () => {
      const fields = { ...FIELDS, ...over };
      assert.deepEqual(decodeMessage(encodeMessage(fields)), fields);
    });
  }

  test('type 1 without a timeout, type 3 with one, fields in fwknop order', () => {
    assert.equal(encodeMessage(FIELDS).split(':').slice(0, 6).join(':'), encoded());
    const t3 = encodeMessage({ ...FIELDS, allowIp: null, clientTimeoutSec: 90 }).split(':');
    assert.deepEqual(t3.slice(4, 7), ['3', b64('0.0.0.0,tcp/22'), '90']);
  });

  test('the encoder refuses what no packet may carry', () => {
    const bad: Array<Partial<FwknopFields>> = [
      { randomValue: '123' },
      { username: 'a:b' },
      { username: 'x'.repeat(49) },
      { timestampSec: -1 },
      { timestampSec: 2 ** 32 },
      { version: '3.0' },
      { allowIp: '0.0.0.0' },
      { allowIp: '2001:db8::1' },
      { allowIp: '198.051.100.7' },
      { ports: [] },
      { ports: Array.from({ length: 9 }, (_, i) => ({ proto: 'tcp' as const, port: i + 1 })) },
      { ports: [{ proto: 'tcp', port: 0 }] },
      {
        ports: [
          { proto: 'tcp', port: 22 },
          { proto: 'tcp', port: 22 },
        ],
      },
      { clientTimeoutSec: 65_537 },
    ];
    for (const over of bad) assert.throws(() => encodeMessage({ ...FIELDS, ...over }), Error, JSON.stringify(over));
  });

  test("user names: fwknop's character rule, at most 48 bytes", () => {
    for (const ok of ['root', 'deploy-bot', 'a', 'x'.repeat(48), 'part1 part2', '123%123']) assert.ok(isValidUsername(ok), ok);
    for (const no of [
      '',
      'x'.repeat(49),
      'a:b',
      ',User',
      'a/b',
      'a\\b',
      'a[b]',
      'a;b',
      'a|b',
      'a=b',
      'a+b',
      'a*b',
      'a?b',
      'a<b>',
      'a"b',
      'ro\u0000ot',
      'tab\there',
      'ü',
    ])
      assert.equal(isValidUsername(no), false, JSON.stringify(no));
  });
});

describe('fwknop message: refused fields, each with its reason', () => {
  const table: Array<[string, string, string]> = [
    // The digest: the last field, type told by its length.
    ['no separator at all', 'fwknop-bad-fields', '__raw__' + 'x'.repeat(80)],
    ['digest of 42 characters (bad digest length)', 'fwknop-bad-digest-length', '__raw__' + `${encoded()}:${'A'.repeat(42)}`],
    ['empty digest', 'fwknop-bad-digest-length', '__raw__' + `${encoded()}:`],
    ['digest of the right length but wrong', 'fwknop-bad-digest', '__raw__' + `${encoded()}:${'A'.repeat(43)}`],
    [
      'digest of other fields',
      'fwknop-bad-digest',
      '__raw__' +
        `${encoded()}:${appendDigest(encoded({ ts: '1' }), 'sha256')
          .split(':')
          .pop()}`,
    ],
    ['too few fields', 'fwknop-bad-fields', encoded().split(':').slice(0, 5).join(':')],
    // Random value: exactly 16 digits.
    ['random value of 15 digits', 'fwknop-bad-random', encoded({ rand: '123456789012345' })],
    ['random value of 17 digits', 'fwknop-bad-random', encoded({ rand: '12345678901234567' })],
    ['random value with a letter', 'fwknop-bad-random', encoded({ rand: '123456789012345a' })],
    // User name.
    ['over-long user (49 bytes)', 'fwknop-bad-user', encoded({ user: b64('u'.repeat(49)) })],
    ['over-long user (100 bytes)', 'fwknop-bad-user', encoded({ user: b64('A'.repeat(100)) })],
    ['over-long user (1000 bytes): the packet is too long to try', 'fwknop-bad-length', encoded({ user: b64('A'.repeat(1000)) })],
    ['empty user', 'fwknop-bad-user', encoded({ user: '' })],
    ['user with a colon', 'fwknop-bad-user', encoded({ user: b64('a:b') })],
    ['user starting with a comma', 'fwknop-bad-user', encoded({ user: b64(',User') })],
    ['user with a NUL byte', 'fwknop-bad-user', encoded({ user: b64('ro\u0000ot') })],
    ['user not in base64', 'fwknop-bad-user', encoded({ user: 'root!' })],
    ['user in padded base64', 'fwknop-bad-user', encoded({ user: 'cm9vdA==' })],
    ['user in non-canonical base64', 'fwknop-bad-user', encoded({ user: 'cm9vdB' })],
    // Timestamp.
    ['empty timestamp', 'fwknop-bad-timestamp', encoded({ ts: '' })],
    ['negative timestamp', 'fwknop-bad-timestamp', encoded({ ts: '-1' })],
    ['timestamp with a leading zero', 'fwknop-bad-timestamp', encoded({ ts: `0${NOW_SEC}` })],
    ['timestamp past 2^32 - 1', 'fwknop-bad-timestamp', encoded({ ts: '4294967296' })],
    ['timestamp of 11 digits', 'fwknop-bad-timestamp', encoded({ ts: '99999999999' })],
    // Version.
    ['empty version', 'fwknop-bad-version', encoded({ ver: '' })],
    ['version 3.0', 'fwknop-bad-version', encoded({ ver: '3.0' })],
    ['version 3.0.0.0', 'fwknop-bad-version', encoded({ ver: '3.0.0.0' })],
    ['version 123.0.0', 'fwknop-bad-version', encoded({ ver: '123.0.0' })],
    // Message type.
    ['message type -1', 'fwknop-bad-message-type', encoded({ type: '-1' })],
    ['message type 7', 'fwknop-bad-message-type', encoded({ type: '7' })],
    ['message type 255', 'fwknop-bad-message-type', encoded({ type: '255' })],
    ['message type 01', 'fwknop-bad-message-type', encoded({ type: '01' })],
    ['empty message type', 'fwknop-bad-message-type', encoded({ type: '' })],
    [
      'command message (type 0)',
      'fwknop-command-refused',
      encoded({ type: '0', msg: b64('198.51.100.7,echo fwknoptest > /tmp/fwknoptest') }),
    ],
    ['NAT access (type 2)', 'fwknop-nat-refused', encoded({ type: '2', extra: [b64('192.168.1.2,22')] })],
    ['client timeout NAT access (type 4)', 'fwknop-nat-refused', encoded({ type: '4', extra: [b64('192.168.10.1,12345'), '1234'] })],
    ['local NAT access (type 5)', 'fwknop-nat-refused', encoded({ type: '5', extra: [b64('127.0.0.1,22')] })],
    ['client timeout local NAT access (type 6)', 'fwknop-nat-refused', encoded({ type: '6', extra: [b64('127.0.0.1,22'), '1234'] })],
    // What follows the access message.
    ['server auth after an access message', 'fwknop-server-auth-refused', encoded({ extra: [b64('passwd')] })],
    ['server auth before a client timeout', 'fwknop-server-auth-refused', encoded({ type: '3', extra: [b64('passwd'), '60'] })],
    ['three extra fields', 'fwknop-bad-fields', encoded({ extra: ['a', 'b', 'c'] })],
    ['type 3 without its timeout', 'fwknop-bad-fields', encoded({ type: '3' })],
    // Client timeout.
    ['client timeout -1', 'fwknop-bad-timeout', encoded({ type: '3', extra: ['-1'] })],
    ['client timeout -10000', 'fwknop-bad-timeout', encoded({ type: '3', extra: ['-10000'] })],
    ['client timeout 0', 'fwknop-bad-timeout', encoded({ type: '3', extra: ['0'] })],
    ['client timeout 65537', 'fwknop-bad-timeout', encoded({ type: '3', extra: ['65537'] })],
    ['client timeout 0120', 'fwknop-bad-timeout', encoded({ type: '3', extra: ['0120'] })],
    ['empty client timeout', 'fwknop-bad-timeout', encoded({ type: '3', extra: [''] })],
    ['message not in base64', 'fwknop-bad-fields', encoded({ msg: '198.51.100.7,tcp/22' })],
    ['message too long (over 256 base64 characters)', 'fwknop-bad-fields', encoded({ msg: b64('A'.repeat(200)) })],
    ['message with a NUL byte', 'fwknop-bad-fields', encoded({ msg: b64('\u00001.2.3.4,tcp/22') })],
  ];
  // The access messages of fwknop's fuzzing list (perl/FKO/t/04_fuzzing.t) and a few more.
  const access: Array<[string, string]> = [
    ['1.2.3.4', 'fwknop-bad-ports'],
    ['-1.2.3.4', 'fwknop-bad-address'],
    ['1.2.3.4.', 'fwknop-bad-address'],
    ['123.123.123.123', 'fwknop-bad-ports'],
    ['923.123.123.123', 'fwknop-bad-address'],
    ['999.999.999.999', 'fwknop-bad-address'],
    ['999.999.999.999,tcp/22', 'fwknop-bad-address'],
    ['999.1.1.1,tcp/22', 'fwknop-bad-address'],
    ['1.2.3.4,tcp/2a2', 'fwknop-bad-ports'],
    ['1.2.3.4,tcp/22,', 'fwknop-bad-ports'],
    ['1.2.3.4,tcp/123456', 'fwknop-bad-ports'],
    [`1.2.3.4,tcp/123456${'9'.repeat(100)}`, 'fwknop-bad-ports'],
    ['1.2.3.4,tcp//22', 'fwknop-bad-ports'],
    ['1.2.3.4,tcp/22/', 'fwknop-bad-ports'],
    ['a23.123.123.123,tcp/12345', 'fwknop-bad-address'],
    ['1.1.1.p/12345', 'fwknop-bad-address'],
    ['1.1.1.2,,,,12345', 'fwknop-bad-ports'],
    ['1.1.1.2,icmp/123', 'fwknop-bad-ports'],
    [',,,', 'fwknop-bad-address'],
    ['----', 'fwknop-bad-address'],
    ['1.3.4.5.5', 'fwknop-bad-address'],
    [`1.3.4.5,${'/'.repeat(100)}22`, 'fwknop-bad-ports'],
    ['1.2.3.4,rcp/22', 'fwknop-bad-ports'],
    ['1.2.3.4,udp/-1', 'fwknop-bad-ports'],
    ['1.2.3.4,tcp/-1', 'fwknop-bad-ports'],
    ['1.1.1.1,udp/1,tap/1,tcp/2,udp/3,tcp/4,tcp/12345', 'fwknop-bad-ports'],
    ['1.1.1.1,udp/1,tcp/1,tcp/2udp/3,tcp/4,tcp/12345', 'fwknop-bad-ports'],
    ['123.123.123.123udp/1,tcp/1', 'fwknop-bad-address'],
    ['', 'fwknop-bad-address'],
    ['01.2.3.4,tcp/22', 'fwknop-bad-address'],
    ['::1,tcp/22', 'fwknop-bad-address'],
    ['2001:db8::1,tcp/22', 'fwknop-bad-address'],
    ['1.2.3.4,tcp/0', 'fwknop-bad-ports'],
    ['1.2.3.4,tcp/65536', 'fwknop-bad-ports'],
    ['1.2.3.4,tcp/022', 'fwknop-bad-ports'],
    ['1.2.3.4,TCP/22', 'fwknop-bad-ports'],
    ['1.2.3.4,none/0', 'fwknop-bad-ports'],
    ['1.2.3.4,tcp/22,tcp/22', 'fwknop-bad-ports'],
    [`1.2.3.4,${Array.from({ length: 9 }, (_, i) => `tcp/${i + 1}`).join(',')}`, 'fwknop-bad-ports'],
    ['1.2.3.4, tcp/22', 'fwknop-bad-ports'],
  ];
  for (const [msg, reason] of access)
    table.push([`access message ${JSON.stringify(msg.length > 60 ? `${msg.slice(0, 57)}...` : msg)}`, reason, encoded({ msg: b64(msg) })]);

  for (const [name, reason, text] of table) {
    test(`${name}: ${reason}`, () => {
      const packet = text.startsWith('__raw__') ? craft(text.slice('__raw__'.length), { raw: true }) : craft(text);
      assert.equal(verdict(packet), reason);
    });
  }

  test('the unaltered fields are accepted (the table above changes one thing at a time)', () => {
    const ok = mustVerify(makeVerifier().verify(craft(encoded()), NOW));
    assert.deepEqual([ok.allowIp, ok.ports, ok.durationSec, ok.fwknopUser], ['198.51.100.7', [{ proto: 'tcp', port: 22 }], 0, 'root']);
    assert.equal(mustVerify(makeVerifier().verify(craft(encoded({ type: '3', extra: ['65536'] })), NOW)).durationSec, 65_536);
  });

  test('the whole plaintext truncated anywhere (digest included) is refused', () => {
    const full = appendDigest(encoded(), 'sha256');
    for (let n = 1; n < full.length; n++) {
      assert.notEqual(verdict(craft(full.slice(0, n), { raw: true })), 'accepted', `first ${n} characters`);
      assert.notEqual(verdict(craft(full.slice(n), { raw: true })), 'accepted', `from character ${n}`);
    }
  });

  test('a ":" in place of any character is refused (digest recomputed)', () => {
    const text = encoded();
    for (let i = 0; i < text.length; i++) {
      if (text[i] === ':') continue;
      const changed = `${text.slice(0, i)}:${text.slice(i + 1)}`;
      const reason = verdict(craft(changed));
      assert.ok(reason.startsWith('fwknop-'), `position ${i}: ${changed} -> ${reason}`);
    }
  });

  test('control and non-ASCII characters anywhere, or appended or prepended, are bad-encoding', () => {
    const text = encoded();
    for (const c of [0, 1, 9, 10, 13, 27, 31, 127, 128, 130, 253, 254]) {
      const ch = String.fromCharCode(c);
      for (let i = 0; i < text.length; i += 7)
        assert.equal(verdict(craft(`${text.slice(0, i)}${ch}${text.slice(i + 1)}`)), 'fwknop-bad-encoding', `char ${c} at ${i}`);
      assert.equal(verdict(craft(text + ch.repeat(10))), 'fwknop-bad-encoding', `char ${c} appended`);
      assert.equal(verdict(craft(ch.repeat(10) + text)), 'fwknop-bad-encoding', `char ${c} prepended`);
    }
  });
});
