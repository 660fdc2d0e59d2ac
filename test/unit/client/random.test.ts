// The nonce's randomness: every byte from /dev/urandom, or every byte from node:crypto, never fewer.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFully, secureRandomBytes } from '../../../src/client/random.js';

const allZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

test('secureRandomBytes gives exactly the bytes asked for, fresh each time', () => {
  for (const size of [0, 8, 24, 100_000]) assert.equal(secureRandomBytes(size).length, size);
  const a = secureRandomBytes(24);
  const b = secureRandomBytes(24);
  assert.notDeepEqual(a, b);
  assert.ok(!allZero(a));
});

test('it reads the device it is given (a character device)', () => {
  assert.deepEqual(secureRandomBytes(24, '/dev/zero'), new Uint8Array(24), '/dev/zero gives zeros: the device was read, not node:crypto');
});

test('without the device, or with a regular file in its place, every byte comes from node:crypto', () => {
  const missing = secureRandomBytes(24, '/nonexistent/urandom');
  assert.equal(missing.length, 24);
  assert.notDeepEqual(missing, secureRandomBytes(24, '/nonexistent/urandom'));
  const file = join(mkdtempSync(join(tmpdir(), 'knockspa-random-')), 'urandom');
  writeFileSync(file, new Uint8Array(64));
  const fromFile = secureRandomBytes(24, file);
  assert.equal(fromFile.length, 24);
  assert.ok(!allZero(fromFile), 'the file\'s zeros were not used');
});

test('readFully reads again after a short read and throws when the source runs dry', () => {
  const source = Uint8Array.from({ length: 24 }, (_, i) => i + 1);
  let at = 0;
  const dribble = (_fd: number, buffer: Uint8Array, offset: number, length: number): number => {
    const n = Math.min(5, length);
    buffer.set(source.subarray(at, at + n), offset);
    at += n;
    return n;
  };
  const buffer = new Uint8Array(24);
  readFully(0, buffer, dribble);
  assert.deepEqual(buffer, source, 'five reads of 5, 5, 5, 5, 4 bytes fill it');

  let calls = 0;
  const dry = (_fd: number, _buffer: Uint8Array, _offset: number, length: number): number => (++calls === 1 ? Math.min(10, length) : 0);
  assert.throws(() => readFully(0, new Uint8Array(24), dry), /random source ended after 10 of 24 bytes/);
});
