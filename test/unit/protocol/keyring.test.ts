/** keyring.ts: lookup by the key id in place, duplicates refused, unknown ids not found, shared 4-byte prefixes. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { Keyring, OFF_KEY_ID, sealPacket } from '../../../src/protocol/index.js';
import { ALICE, BOB, OPEN_SSH, fixedKey, fromHex, nonceOf, toHex } from './fixtures.js';

describe('Keyring', () => {
  test('finds a key by the id in a packet header, without copying it out', () => {
    const ring = new Keyring();
    ring.add(ALICE);
    ring.add(BOB);
    assert.equal([...ring.entries()].length, 2);
    const packet = sealPacket(BOB, OPEN_SSH, nonceOf(1));
    const entry = ring.find(packet, OFF_KEY_ID);
    assert.ok(entry !== undefined);
    assert.equal(entry.user, 'bob');
    assert.equal(entry.keyIdHex, toHex(BOB.keyId));
    assert.equal(entry.serverId, BOB.serverId);
    assert.equal(ring.find(ALICE.keyId, 0)?.user, 'alice');
  });

  test('an unknown id is not found, including ids differing in one byte anywhere', () => {
    const ring = new Keyring();
    ring.add(ALICE);
    assert.equal(ring.find(new Uint8Array(8), 0), undefined);
    for (let i = 0; i < 8; i++) {
      const id = ALICE.keyId.slice();
      id[i]! ^= 0x80;
      assert.equal(ring.find(id, 0), undefined, `byte ${i} changed`);
    }
    assert.equal(new Keyring().find(ALICE.keyId, 0), undefined, 'an empty keyring finds nothing');
  });

  test('a duplicate key id is refused, even for another user and secret, and the ring is unchanged', () => {
    const ring = new Keyring();
    ring.add(ALICE);
    const impostor = fixedKey(7, { user: 'mallory', keyId: ALICE.keyId.slice() });
    assert.throws(
      () => ring.add(impostor),
      (err: Error) => err.message.includes(toHex(ALICE.keyId)) && !err.message.includes(toHex(impostor.secret)),
    );
    assert.equal([...ring.entries()].length, 1);
    assert.equal(ring.find(ALICE.keyId, 0)?.user, 'alice');
  });

  test('ids sharing their first four bytes are told apart', () => {
    const ring = new Keyring();
    const ids = ['0102030400000000', '0102030400000001', '01020304ffffffff', '0102030480000000'];
    ids.forEach((id, i) => ring.add(fixedKey(i + 1, { user: `u${i}`, keyId: fromHex(id) })));
    ids.forEach((id, i) => assert.equal(ring.find(fromHex(id), 0)?.user, `u${i}`));
    assert.equal(ring.find(fromHex('0102030400000002'), 0), undefined);
    assert.deepEqual([...ring.entries()].map((e) => e.keyIdHex).sort(), [...ids].sort());
  });

  test('the entry does not alias the caller’s key id buffer', () => {
    const key = fixedKey(3);
    const ring = new Keyring();
    ring.add(key);
    const original = toHex(key.keyId);
    key.keyId.fill(0);
    assert.equal(ring.find(fromHex(original), 0)?.user, 'user3');
  });
});
