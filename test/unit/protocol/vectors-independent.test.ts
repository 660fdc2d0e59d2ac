/** Test vectors checked with node:crypto alone (HKDF, HMAC, SHA-256, ChaCha20): the tag, the keys and the plaintext body layout. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { fromHex } from './fixtures.js';
import { encKeyOf, hchacha20, hmacSha256, macKeyOf, serverTagOf, xchacha20Xor } from './independent-crypto.js';
import { loadVectors, type VectorJson } from './vectors-load.js';

const vectors = loadVectors();

/** The 16 address bytes of the body, by hand: IPv4 in the first four, IPv6 via the WHATWG URL parser. */
function addressBytes(ip: string | null): { family: number; bytes: Buffer } {
  const bytes = Buffer.alloc(16);
  if (ip === null) return { family: 0, bytes };
  if (!ip.includes(':')) {
    ip.split('.').forEach((octet, i) => (bytes[i] = Number(octet)));
    return { family: 4, bytes };
  }
  // Expand "::" by hand, then check the expansion against the URL parser's canonical form.
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => bytes.writeUInt16BE(parseInt(g, 16), 2 * i));
  assert.equal(new URL(`http://[${groups.join(':')}]/`).hostname, `[${ip}]`, 'vector IPv6 addresses are canonical');
  return { family: 6, bytes };
}

/** The 80-byte body per docs/protocol.md §2.2, written field by field. */
function expectedBody(v: VectorJson): Buffer {
  const body = Buffer.alloc(80);
  body.writeBigUInt64BE(BigInt(v.timestampMs), 0);
  body[8] = v.action === 'open' ? 1 : 2;
  body[9] = v.ports.length;
  body.writeUInt32BE(v.durationSec, 10);
  const { family, bytes } = addressBytes(v.allowIp);
  body[14] = family;
  bytes.copy(body, 15);
  serverTagOf(v.serverId).copy(body, 31);
  v.ports.forEach((p, i) => {
    body[47 + 3 * i] = p.proto === 'tcp' ? 6 : 17;
    body.writeUInt16BE(p.port, 48 + 3 * i);
  });
  return body;
}

describe('test vectors, independent check with node:crypto', () => {
  test('HChaCha20 here matches draft-irtf-cfrg-xchacha-03 §2.2.1', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const nonce = Buffer.from('000000090000004a0000000031415927', 'hex');
    assert.equal(hchacha20(key, nonce).toString('hex'), '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
  });

  for (const v of vectors) {
    describe(v.name, () => {
      const packet = Buffer.from(v.packet, 'hex');
      const secret = fromHex(v.secret);

      test('the clear header is magic 0xcb, version 1, key id, nonce', () => {
        assert.equal(packet.length, 146);
        assert.equal(packet[0], 0xcb);
        assert.equal(packet[1], 1);
        assert.equal(packet.subarray(2, 10).toString('hex'), v.keyId);
        assert.equal(packet.subarray(10, 34).toString('hex'), v.nonce);
      });

      test('HKDF-SHA256 keys match the listed encKey and macKey', () => {
        assert.equal(encKeyOf(secret).toString('hex'), v.encKey);
        assert.equal(macKeyOf(secret).toString('hex'), v.macKey);
      });

      test('the tag equals HMAC-SHA256(macKey, header || ciphertext)', () => {
        const tag = hmacSha256(macKeyOf(secret), packet.subarray(0, 114));
        assert.equal(packet.subarray(114).toString('hex'), tag.toString('hex'));
      });

      test('XChaCha20 decryption gives the listed body, laid out field by field from the inputs', () => {
        const body = xchacha20Xor(encKeyOf(secret), packet.subarray(10, 34), packet.subarray(34, 114));
        assert.equal(body.toString('hex'), v.body);
        assert.equal(body.toString('hex'), expectedBody(v).toString('hex'));
        assert.equal(body.subarray(31, 47).toString('hex'), v.serverTag);
      });
    });
  }
});
