/** keyfile.ts: format/parse round trip, errors that name their line, and the secret never in an error message. */
import { strict as assert } from 'node:assert';
import { randomFillSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { KEY_FILE_HEADER, KeyFileError, formatKeyFile, newUserKey, parseKeyFile } from '../../../src/protocol/index.js';
import { ALICE, toHex } from './fixtures.js';

const SECRET_HEX = toHex(ALICE.secret);
const TEXT = formatKeyFile(ALICE);

/** Parses and returns the KeyFileError, failing if parsing succeeds or throws anything else. */
function errorOf(text: string): KeyFileError {
  try {
    parseKeyFile(text);
  } catch (err) {
    assert.ok(err instanceof KeyFileError, `expected a KeyFileError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected parseKeyFile to throw');
}

const replaceLine = (text: string, field: string, line: string): string => text.replace(new RegExp(`^${field}: .*$`, 'm'), line);

describe('key file round trip', () => {
  test('formatKeyFile then parseKeyFile gives the key back', () => {
    assert.deepEqual(parseKeyFile(TEXT), ALICE);
  });

  test('new random keys round-trip', () => {
    for (let i = 0; i < 50; i++) {
      const key = newUserKey({
        user: `u${i}`,
        serverId: 'spa.example.net',
        created: '2025-06-01T10:20:30.456Z',
        random: (n) => randomFillSync(new Uint8Array(n)),
      });
      assert.deepEqual(parseKeyFile(formatKeyFile(key)), key);
    }
  });

  test('the format is the documented one: header, then one field per line', () => {
    const lines = TEXT.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.deepEqual(lines, [
      KEY_FILE_HEADER,
      'user: alice',
      `key-id: ${toHex(ALICE.keyId)}`,
      'server-id: spa.example.net',
      'created: 2025-01-01T00:00:00Z',
      `secret: ${SECRET_HEX}`,
    ]);
  });

  test('tolerates CRLF, blank lines, comments, indentation and any field order', () => {
    const [comment, header, ...fields] = TEXT.trimEnd().split('\n');
    const shuffled = ['', comment, '   ', `  ${header}  `, '# another comment', ...fields.reverse().map((f) => `\t${f} `), ''].join('\r\n');
    assert.deepEqual(parseKeyFile(shuffled), ALICE);
  });
});

describe('key file errors name the line', () => {
  const cases: ReadonlyArray<readonly [string, string, number, RegExp]> = [
    ['missing header', TEXT.replace(`${KEY_FILE_HEADER}\n`, ''), 2, /knockspa-key: 1/],
    ['wrong version header', TEXT.replace(KEY_FILE_HEADER, 'knockspa-key: 2'), 2, /not a knockspa v1 key file/],
    ['unknown field', TEXT.replace('user: alice', 'usr: alice'), 3, /unknown field "usr"/],
    ['duplicate field', `${TEXT}user: bob\n`, 8, /user: given twice \(first on line 3\)/],
    ['line without a colon', TEXT.replace('user: alice', 'user alice'), 3, /expected "field: value"/],
    [
      'bad hex in the key id',
      replaceLine(TEXT, 'key-id', 'key-id: 01020304050607zz'),
      4,
      /key-id: expected 16 lowercase hex digits, got "01020304050607zz"/,
    ],
    ['short key id', replaceLine(TEXT, 'key-id', 'key-id: 0102'), 4, /key-id: expected 16 lowercase hex digits/],
    [
      'uppercase secret',
      replaceLine(TEXT, 'secret', `secret: ${SECRET_HEX.toUpperCase()}`),
      7,
      /secret: expected 64 lowercase hex digits, got 64 characters/,
    ],
    [
      'bad hex in the secret',
      replaceLine(TEXT, 'secret', `secret: ${SECRET_HEX.slice(0, 63)}g`),
      7,
      /secret: expected 64 lowercase hex digits, got 64 characters/,
    ],
    [
      'short secret',
      replaceLine(TEXT, 'secret', `secret: ${SECRET_HEX.slice(0, 62)}`),
      7,
      /secret: expected 64 lowercase hex digits, got 62 characters/,
    ],
    ['bad user name', TEXT.replace('user: alice', 'user: Alice Smith'), 3, /user: expected a name/],
    [
      'bad server id',
      TEXT.replace('server-id: spa.example.net', 'server-id: spa example'),
      5,
      /server-id: expected a host-name-like identity/,
    ],
    ['bad created time', TEXT.replace('created: 2025-01-01T00:00:00Z', 'created: yesterday'), 6, /created: expected an ISO 8601 UTC time/],
  ];
  for (const [name, text, line, message] of cases) {
    test(`${name}: line ${line}`, () => {
      const err = errorOf(text);
      assert.equal(err.line, line);
      assert.match(err.message, new RegExp(`^line ${line}: `));
      assert.match(err.message, message);
    });
  }

  for (const field of ['user', 'key-id', 'server-id', 'created', 'secret']) {
    test(`missing field ${field}: named in the error`, () => {
      const err = errorOf(TEXT.replace(new RegExp(`^${field}: .*\\n`, 'm'), ''));
      assert.match(err.message, new RegExp(`missing field "${field}"`));
    });
  }

  test('an empty file', () => {
    for (const text of ['', '\n\n', '# only a comment\n']) assert.match(errorOf(text).message, /empty key file/);
  });
});

describe('the secret never appears in an error message', () => {
  const secretBits = [SECRET_HEX, SECRET_HEX.slice(0, 20), SECRET_HEX.slice(-20), SECRET_HEX.toUpperCase().slice(0, 20)];
  const variants: ReadonlyArray<readonly [string, string]> = [
    // (Not server-id: 64 hex digits are a valid server id, so that mistake is not an error at all.)
    ...['user', 'key-id', 'created'].map((f) => [`secret pasted as ${f}`, `${replaceLine(TEXT, f, `${f}: ${SECRET_HEX}`)}`] as const),
    ['secret line without its colon', replaceLine(TEXT, 'secret', `secret ${SECRET_HEX}`)],
    ['secret with a typo in the field name', replaceLine(TEXT, 'secret', `secrte: ${SECRET_HEX}`)],
    ['secret as the field name', replaceLine(TEXT, 'secret', `${SECRET_HEX}: x`)],
    ['secret given twice', `${TEXT}secret: ${SECRET_HEX}\n`],
    ['secret before the header', `secret: ${SECRET_HEX}\n${TEXT}`],
    ['secret uppercase', replaceLine(TEXT, 'secret', `secret: ${SECRET_HEX.toUpperCase()}`)],
    ['secret with one bad digit', replaceLine(TEXT, 'secret', `secret: ${SECRET_HEX.slice(0, 40)}x${SECRET_HEX.slice(41)}`)],
    ['secret one digit short', replaceLine(TEXT, 'secret', `secret: ${SECRET_HEX.slice(1)}`)],
    ['secret one digit long', replaceLine(TEXT, 'secret', `secret: ${SECRET_HEX}0`)],
    ['secret wrapped over two lines', replaceLine(TEXT, 'secret', `secret: ${SECRET_HEX.slice(0, 32)}\n${SECRET_HEX.slice(32)}`)],
    ['secret with 0x prefix', replaceLine(TEXT, 'secret', `secret: 0x${SECRET_HEX}`)],
    ['secret with spaces inside', replaceLine(TEXT, 'secret', `secret: ${SECRET_HEX.match(/.{8}/g)!.join(' ')}`)],
    ['user name and secret on one line', TEXT.replace('user: alice', `user: alice ${SECRET_HEX}`)],
  ];
  for (const [name, text] of variants) {
    test(name, () => {
      const err = errorOf(text);
      for (const bit of secretBits) assert.ok(!err.message.includes(bit), `error message leaks the secret: ${err.message}`);
      assert.ok(!String(err.stack).includes(SECRET_HEX));
    });
  }
});
