/** fwknop's Rijndael layer against independent implementations: OpenSSL's EVP_BytesToKey (known answer) and node:crypto's AES-256-CBC. */
import { strict as assert } from 'node:assert';
import { createCipheriv } from 'node:crypto';
import { describe, test } from 'node:test';
import { decryptSalted, deriveKeyAndIv, encryptSalted } from '../../../src/protocol/fwknop/index.js';
import { counting } from './fixtures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const PASSWORD = new TextEncoder().encode('knockspa-fwknop-test-key-0123456');
const SALT = Uint8Array.from(Buffer.from('0102030405060708', 'hex'));

describe('fwknop cipher', () => {
  test('key and IV equal `openssl enc -aes-256-cbc -md md5 -S 0102030405060708 -pass pass:... -P`', () => {
    const { key, iv } = deriveKeyAndIv(PASSWORD, SALT);
    assert.equal(hex(key), 'c39e2a2434d827026c15d8a277aaa5139a1a49d94b08e8487a9701d2b02650b7');
    assert.equal(hex(iv), 'a507ce0bffd5ce5f1928ceea3d0009ea');
  });

  test('ciphertext equals openssl enc of the same bytes, behind "Salted__" and the salt', () => {
    const sealed = encryptSalted(PASSWORD, SALT, new TextEncoder().encode('hello fwknop'));
    assert.equal(Buffer.from(sealed.subarray(0, 16)).toString('latin1'), 'Salted__\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008');
    assert.equal(Buffer.from(sealed.subarray(16)).toString('base64'), 'FbYKh6jnJf1iSFzaRbpGNA==');
  });

  test('encrypt matches node:crypto AES-256-CBC for every plaintext length 0..48, and decrypts back', () => {
    for (let n = 0; n <= 48; n++) {
      const plain = counting(n, n);
      const password = counting(1 + (n % 32), 0x30 + n);
      const sealed = encryptSalted(password, SALT, plain);
      const { key, iv } = deriveKeyAndIv(password, SALT);
      const c = createCipheriv('aes-256-cbc', key, iv);
      assert.equal(hex(sealed.subarray(16)), hex(Buffer.concat([c.update(plain), c.final()])), `length ${n}`);
      assert.equal(hex(decryptSalted(password, sealed) as Uint8Array), hex(plain));
    }
  });

  test('decrypt refuses a wrong header, a broken block structure, and a wrong key (padding)', () => {
    const sealed = encryptSalted(PASSWORD, SALT, counting(40, 1));
    const noMagic = sealed.slice();
    noMagic[0] = 0x54;
    assert.equal(decryptSalted(PASSWORD, noMagic), 'ciphertext');
    assert.equal(decryptSalted(PASSWORD, sealed.subarray(0, sealed.length - 1)), 'ciphertext');
    assert.equal(decryptSalted(PASSWORD, sealed.subarray(0, 16)), 'ciphertext', 'header only');
    // A wrong key leaves random padding: over a few keys, at least one must fail the PKCS#7 check.
    const verdicts = [1, 2, 3, 4, 5, 6, 7, 8].map((k) => decryptSalted(counting(32, k), sealed));
    assert.ok(
      verdicts.includes('padding'),
      `some wrong key fails the padding check (${verdicts.map((v) => (typeof v === 'string' ? v : 'bytes')).join(', ')})`,
    );
  });
});
