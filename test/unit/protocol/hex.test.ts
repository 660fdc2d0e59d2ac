// flatHex: the same text as noble's bytesToHex (after a prefix), for every byte value.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { bytesToHex } from '@noble/hashes/utils.js';
import { flatHex } from '../../../src/protocol/hex.js';

test('flatHex writes what bytesToHex writes, after the prefix', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.equal(flatHex(all), bytesToHex(all));
  assert.equal(flatHex(all.subarray(250), 'fwknop:'), `fwknop:${bytesToHex(all.subarray(250))}`);
  assert.equal(flatHex(new Uint8Array(0)), '');
});
