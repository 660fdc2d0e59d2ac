/**
 * Packets made by Debian's real fwknop client (test/vectors/fwknop-client.json, from
 * test/vectors/fwknop-client-generate.ts): each is accepted with exactly the fields the client
 * printed for it, or refused with the reason its case names.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  decodeBase64,
  decodeMessage,
  decryptSalted,
  HMAC_B64_LENGTH,
  parseKeyPair,
  SALTED_PREFIX_B64,
  type FwknopKeys,
} from '../../../src/protocol/fwknop/index.js';
import type { FwknopClientVectors } from '../../vectors/fwknop-client-generate.js';
import { bytes, makeVerifier } from './fixtures.js';

const FILE = new URL('../../../../test/vectors/fwknop-client.json', import.meta.url);
const doc = JSON.parse(readFileSync(FILE, 'utf8')) as FwknopClientVectors;
const keys = parseKeyPair(doc.keyBase64, doc.hmacKeyBase64) as FwknopKeys;

/** "198.51.100.7,tcp/22,udp/53" as the client printed it, read independently of our decoder. */
function expectedAccess(message: string): { allowIp: string | null; ports: Array<{ proto: string; port: number }> } {
  const [ip, ...specs] = message.split(',');
  return {
    allowIp: ip === '0.0.0.0' ? null : (ip as string),
    ports: specs.map((s) => ({ proto: s.split('/')[0] as string, port: Number(s.split('/')[1]) })),
  };
}

describe('fwknop client vectors', () => {
  test('the file holds the cases and was made by fwknop 2.6', () => {
    assert.match(doc.generatedBy, /^fwknop client 2\.6\./);
    assert.equal(typeof keys, 'object', 'the fixture keys pass our own key checks');
    assert.ok(doc.vectors.length >= 12);
  });

  for (const v of doc.vectors) {
    test(v.name, () => {
      const verifier = makeVerifier([['alice', keys]]);
      const result = verifier.verify(bytes(v.packet), v.dump.timestampSec * 1000);
      if (v.expect !== 'accept') {
        assert.equal(typeof result, 'string', `refused (${JSON.stringify(result)})`);
        assert.ok(v.expect.includes(result as string), `reason ${String(result)} is one of ${v.expect.join(', ')}`);
        return;
      }
      assert.deepEqual(result, {
        format: 'fwknop',
        timestampMs: v.dump.timestampSec * 1000,
        action: 'open',
        ...expectedAccess(v.dump.message),
        durationSec: v.dump.clientTimeoutSec,
        user: 'alice',
        fwknopUser: v.dump.username,
        packetId: (result as { packetId: string }).packetId,
      });
      assert.match((result as { packetId: string }).packetId, /^fwknop:[0-9a-f]{64}$/);
      // One level down: the random value and the digest type are the ones the client printed.
      const data = decodeBase64(SALTED_PREFIX_B64 + v.packet.slice(0, -HMAC_B64_LENGTH)) as Uint8Array;
      const fields = decodeMessage(Buffer.from(decryptSalted(keys.encKey, data) as Uint8Array).toString('latin1'));
      assert.equal(typeof fields, 'object');
      if (typeof fields === 'string') return;
      assert.equal(fields.randomValue, v.dump.randomValue);
      assert.equal(fields.digest.toUpperCase(), /\((\w+)\)/.exec(v.dump.digestType)?.[1]);
      assert.equal(verifier.verify(bytes(v.packet), v.dump.timestampSec * 1000), 'fwknop-replay', 'the same bytes again');
    });
  }
});
