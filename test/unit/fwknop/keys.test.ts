/** Key parsing: what fwknop --key-gen prints is accepted; anything else is refused with a reason that never repeats the key. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { parseKeyBase64, parseKeyPair } from '../../../src/protocol/fwknop/index.js';

const b64 = (n: number, fill = 7): string => Buffer.alloc(n, fill).toString('base64');
// Printed by `fwknop --key-gen` (2.6.10).
const KEY = 's1Pz535uH/9qyULXOyJo9fp9iMSRBOrBKxZeaNC03Lw=';
const HMAC = '98XnDinAB4KZ4qfm4Khx+sPrQw04xgPlPpxm+ATQf/aP1DVlk0BAD4FZLFA9IgBYPDzLp5Ebm0jAk4o7vq0rPw==';

describe('fwknop keys', () => {
  test('fwknop --key-gen output is accepted: 32 and 64 bytes', () => {
    const keys = parseKeyPair(KEY, HMAC);
    assert.equal(typeof keys, 'object');
    if (typeof keys === 'string') return;
    assert.equal(keys.encKey.length, 32);
    assert.equal(keys.hmacKey.length, 64);
  });

  test('lengths: encryption 16..32 bytes, HMAC 32..128 bytes', () => {
    for (const n of [16, 24, 32]) assert.equal(typeof parseKeyBase64(b64(n), 'encryption'), 'object', `${n}`);
    for (const n of [15, 33, 0]) assert.match(parseKeyBase64(b64(n), 'encryption') as string, new RegExp(`has ${n} bytes`));
    for (const n of [32, 64, 128]) assert.equal(typeof parseKeyBase64(b64(n), 'HMAC'), 'object', `${n}`);
    for (const n of [31, 129]) assert.match(parseKeyBase64(b64(n), 'HMAC') as string, new RegExp(`HMAC key has ${n} bytes`));
  });

  test('not base64, unpadded, non-canonical: refused, and the message does not contain the key', () => {
    for (const bad of [KEY.slice(0, -1), `${KEY}=`, `${KEY} `, KEY.replace('/', '_'), 's1Pz535uH/9qyULXOyJo9fp9iMSRBOrBKxZeaNC03Lx=', '']) {
      const r = parseKeyBase64(bad, 'encryption');
      assert.equal(typeof r, 'string', bad);
      if (bad !== '') assert.ok(!(r as string).includes(bad), 'no key in the message');
    }
  });

  test('the same bytes for both keys are refused', () => {
    assert.match(parseKeyPair(b64(32), b64(32)) as string, /same/);
    assert.match(parseKeyPair('x', HMAC) as string, /encryption key/);
    assert.match(parseKeyPair(KEY, 'x') as string, /HMAC key/);
  });
});
