// The 8-byte id index both keyrings use: found in place at any offset, ids sharing a first half
// told apart, a short buffer is no match; and the SSH candidate id has the size it indexes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdIndex, INDEXED_ID_SIZE } from '../../../src/protocol/id-index.js';
import { CANDIDATE_ID_SIZE, SSH_OFF_CANDIDATE } from '../../../src/protocol/ssh/constants.js';
import { OFF_KEY_ID } from '../../../src/protocol/constants.js';

interface Item {
  readonly name: string;
  readonly id: Uint8Array;
}

test('find: in place at an offset; same first 4 bytes told apart by the rest; a short buffer or an unknown id is undefined', () => {
  const a: Item = { name: 'a', id: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) };
  const b: Item = { name: 'b', id: Uint8Array.of(1, 2, 3, 4, 9, 9, 9, 9) };
  const index = new IdIndex<Item>((item) => item.id);
  index.add(a);
  index.add(b);
  assert.equal(index.size, 2);
  const packet = new Uint8Array(20);
  packet.set(b.id, 2);
  assert.equal(index.find(packet, 2), b);
  packet.set(a.id, 2);
  assert.equal(index.find(packet, 2), a);
  packet[9] = 0;
  assert.equal(index.find(packet, 2), undefined, 'last byte differs');
  assert.equal(index.find(a.id.subarray(0, 7), 0), undefined, 'bytes end before the id does');
  assert.deepEqual(
    [...index.entries()].map((i) => i.name),
    ['a', 'b'],
  );
});

test('the SSH candidate id sits where the v1 key id does and has its size (one index, one kernel screen expression)', () => {
  assert.equal(CANDIDATE_ID_SIZE, INDEXED_ID_SIZE);
  assert.equal(SSH_OFF_CANDIDATE, OFF_KEY_ID);
});
