/** Test vectors (test/vectors/protocol-v1.json): sealPacket reproduces each packet; Verifier accepts it with exactly its fields. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { PACKET_SIZE, sealPacket, type KnockFields, type UserKey } from '../../../src/protocol/index.js';
import { SKEW, fromHex, makeVerifier, mustVerify, toHex } from './fixtures.js';
import { loadVectors, type VectorJson } from './vectors-load.js';

const vectors = loadVectors();

function keyOf(v: VectorJson): UserKey {
  return { user: 'vector', keyId: fromHex(v.keyId), serverId: v.serverId, secret: fromHex(v.secret), created: '2025-01-01T00:00:00Z' };
}

function fieldsOf(v: VectorJson): KnockFields {
  return { timestampMs: v.timestampMs, action: v.action, ports: v.ports, allowIp: v.allowIp, durationSec: v.durationSec };
}

describe('test vectors', () => {
  test('the set covers the source address, IPv4, IPv6, a close knock and mixed tcp/udp ports', () => {
    assert.ok(vectors.some((v) => v.allowIp === null));
    assert.ok(vectors.some((v) => v.allowIp !== null && v.allowIp.includes('.')));
    assert.ok(vectors.some((v) => v.allowIp !== null && v.allowIp.includes(':')));
    assert.ok(vectors.some((v) => v.action === 'close'));
    assert.ok(vectors.some((v) => v.ports.length > 1 && v.ports.some((p) => p.proto === 'tcp') && v.ports.some((p) => p.proto === 'udp')));
    assert.equal(new Set(vectors.map((v) => v.packet)).size, vectors.length, 'every vector is distinct');
  });

  for (const v of vectors) {
    describe(v.name, () => {
      test('sealPacket reproduces the packet byte for byte', () => {
        assert.equal(v.packet.length, 2 * PACKET_SIZE);
        const packet = sealPacket(keyOf(v), fieldsOf(v), fromHex(v.nonce), v.serverId);
        assert.equal(toHex(packet), v.packet);
      });

      test('Verifier accepts it and returns exactly the fields', () => {
        const verifier = makeVerifier([keyOf(v)], { serverId: v.serverId });
        const result = mustVerify(verifier.verify(fromHex(v.packet), v.timestampMs + SKEW - 1));
        assert.deepEqual(result, {
          ...fieldsOf(v),
          user: 'vector',
          keyIdHex: v.keyId,
          packetId: v.keyId + v.nonce,
        });
      });

      test('a verifier for another server rejects it', () => {
        const verifier = makeVerifier([keyOf(v)], { serverId: `other.${v.serverId}` });
        assert.equal(verifier.verify(fromHex(v.packet), v.timestampMs), 'wrong-server');
      });
    });
  }
});
