/**
 * Byte-exact vectors (docs/protocol.md §9.7), Ed25519 and sk-ssh-ed25519 (both deterministic), each
 * re-checked with node:crypto alone: candidate id (HMAC), body (X25519, HKDF, ChaCha20-Poly1305),
 * signature (SSHSIG data; for the security key, OpenSSH's sk construction).
 */
import { strict as assert } from 'node:assert';
import { createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../vectors-load.js';
import { fixedEd25519, knock, makeSshVerifier, NOW, OPEN_22, SERVER_PRIVATE, SERVER_PUBLIC } from './fixtures.js';

const VECTORS = {
  'ssh-ed25519': {
    fingerprint: 'SHA256:z/fSv0Z0RZS+Lccbc6ZoOWwt/fbj1VFJGSBKQbo4icE',
    packet:
      'cc016b55ec1f67cf70dd7c447532c66267c08d24d25437415d106c2ec24e35b9f8a3e41da9d1192b420358c4390b792693eb8035c14713f89e56113690a2c01f1e956153a9694fc05db3c722a808cc239df1cbcb60e7fb3771555be660a478a813ee9f6aeb78d6394bc8c238d14460abcf51e20716fbc7b1658d446bae32f48c4519d8de13efebaba456bdf8bb452bf9690e8c4509f3ab6afdd4743c031c10da6e843aacdd728a91c4c8c94eef8fc9f6109a69981dec5f40f5e45017cc42796f56091875cc962566940c',
  },
  'sk-ssh-ed25519@openssh.com': {
    fingerprint: 'SHA256:u3XYI8FD0iAKicuev894GMPS487mPAsIuB8xtsnAOWA',
    packet:
      'cc01d9acba79f6107e2b7c447532c66267c08d24d25437415d106c2ec24e35b9f8a3e41da9d1192b420358c4390b792693eb8035c14713f89e56113690a2c01f1e956153a9694fc05db3c722a808cc239df1cbcb60e7fb3771555be660a478a813ee9f6aeb78d6394bc8c238d14460abcf51e20716fbc7b1658d87cfa9307801b6dbb26f28f1bbdeba8e0100000007945cb2191dea77c594890aaf10c1aaf23858311819f4395738cb026e5183d8a469c49c97035a98f48a4468441682b311a946952a2b6fc178f69c2dcd35c87105',
  },
} as const;

const sshString = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
const sha = (alg: string, b: Buffer): Buffer => createHash(alg).update(b).digest();

for (const [type, vector] of Object.entries(VECTORS)) {
  test(`${type}: the packet byte for byte, and every part re-checked with node:crypto`, () => {
    const key = fixedEd25519(7, type as 'ssh-ed25519');
    const packet = knock(key, { fields: OPEN_22, n: 1 });
    assert.equal(Buffer.from(packet).toString('hex'), vector.packet);
    assert.equal(key.pub.fingerprint, vector.fingerprint);
    const p = Buffer.from(vector.packet, 'hex');
    // Candidate id: HMAC-SHA256(server public key, key blob), 8 bytes.
    assert.deepEqual(p.subarray(2, 10), createHmac('sha256', SERVER_PUBLIC).update(key.pub.blob).digest().subarray(0, 8));
    // Body: X25519(server private, ephemeral public) -> HKDF -> ChaCha20-Poly1305 with the header as AAD.
    const spki = (raw: Buffer) =>
      createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), raw]), format: 'der', type: 'spki' });
    const serverPriv = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), SERVER_PRIVATE]),
      format: 'der',
      type: 'pkcs8',
    });
    const eph = p.subarray(10, 42);
    const shared = diffieHellman({ privateKey: serverPriv, publicKey: spki(eph) });
    const info = Buffer.concat([Buffer.from('knockspa/ssh1 body'), eph, SERVER_PUBLIC]);
    const bodyKey = Buffer.from(hkdfSync('sha256', shared, 'knockspa/ssh1', info, 32));
    const decipher = createDecipheriv('chacha20-poly1305', bodyKey, Buffer.alloc(12), { authTagLength: 16 });
    decipher.setAAD(p.subarray(0, 42), { plaintextLength: 80 });
    decipher.setAuthTag(p.subarray(122, 138));
    const body = Buffer.concat([decipher.update(p.subarray(42, 122)), decipher.final()]);
    assert.equal(body.readBigUInt64BE(0), BigInt(NOW));
    assert.deepEqual([body[8], body[9], body[47], body.readUInt16BE(48)], [1, 1, 6, 22]);
    const tag = sha('sha256', Buffer.concat([Buffer.from('knockspa/ssh1 server-key\0'), SERVER_PUBLIC])).subarray(0, 16);
    assert.deepEqual(body.subarray(31, 47), tag);
    // Signature: SSHSIG data over bytes 0..137.
    const signed = Buffer.concat([
      Buffer.from('SSHSIG'),
      sshString(Buffer.from('knockspa@v1')),
      sshString(Buffer.alloc(0)),
      sshString(Buffer.from('sha512')),
      sshString(sha('sha512', p.subarray(0, 138))),
    ]);
    const pk = key.pub.key;
    if (type === 'ssh-ed25519') {
      assert.ok(verify(null, signed, pk, p.subarray(138)));
    } else {
      const [flags, counter] = [p[138], p.readUInt32BE(139)];
      assert.deepEqual([flags, counter], [1, 7]);
      const data = Buffer.concat([sha('sha256', Buffer.from('ssh:')), p.subarray(138, 143), sha('sha256', signed)]);
      assert.ok(verify(null, data, pk, p.subarray(143)));
    }
    const result = makeSshVerifier([['alice', key]]).verify(packet, NOW);
    assert.equal(typeof result, 'object');
  });
}

test('docs/protocol.md §9.7 lists both packets', () => {
  const docs = readFileSync(join(REPO_ROOT, 'docs', 'protocol.md'), 'utf8').replace(/\s+/g, '');
  for (const [type, vector] of Object.entries(VECTORS)) assert.ok(docs.includes(vector.packet), `${type} packet missing from the docs`);
});
