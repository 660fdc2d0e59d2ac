/** SSH-key knocks of every key type: made, verified once, refused on replay; what each wrong part of a knock is refused as. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { SSH_OFF_SIGNATURE, x25519PublicOf, type SshVerified } from '../../../../src/protocol/ssh/index.js';
import { KEYS, NOW, OPEN_22, OTHER_SERVER_PRIVATE, SKEW, knock, makeSshVerifier, newKey } from './fixtures.js';

const SIZES: Record<string, number> = {
  'ssh-ed25519': 202,
  'ecdsa-sha2-nistp256': 202,
  'ssh-rsa': 395,
  'sk-ssh-ed25519@openssh.com': 207,
  'sk-ecdsa-sha2-nistp256@openssh.com': 207,
};

function accepted(result: unknown): SshVerified {
  if (typeof result === 'string') assert.fail(`refused: ${result}`);
  return result as SshVerified;
}

describe('round trip per key type', () => {
  for (const key of KEYS) {
    test(`${key.type}: accepted once with its fields, user and fingerprint; then replay`, () => {
      const verifier = makeSshVerifier([['alice', key]]);
      const fields = {
        ...OPEN_22,
        ports: [{ proto: 'tcp', port: 22 } as const, { proto: 'udp', port: 53 } as const],
        allowIp: '203.0.113.9',
        durationSec: 90,
      };
      const packet = knock(key, { fields });
      assert.equal(packet.length, SIZES[key.type], 'one size per key type');
      const v = accepted(verifier.verify(packet, NOW + 1000));
      assert.deepEqual(
        {
          user: v.user,
          format: v.format,
          ports: v.ports,
          allowIp: v.allowIp,
          durationSec: v.durationSec,
          ts: v.timestampMs,
          action: v.action,
        },
        { user: 'alice', format: 'ssh', ports: fields.ports, allowIp: '203.0.113.9', durationSec: 90, ts: NOW, action: 'open' },
      );
      assert.equal(v.fingerprint, key.pub.fingerprint);
      assert.match(v.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
      assert.equal(verifier.verify(packet, NOW + 1000), 'replay');
      assert.equal(verifier.rejected.logFields()?.sshKey, key.pub.fingerprint);
    });
  }

  test('RSA: rsa-sha2-256 and rsa-sha2-512 signatures both verify; RSA-4096 packets are 651 bytes', () => {
    const rsa = KEYS.find((k) => k.type === 'ssh-rsa')!;
    const verifier = makeSshVerifier([['alice', rsa]]);
    accepted(verifier.verify(knock(rsa, { rsaHash: 'sha256', n: 2 }), NOW));
    accepted(verifier.verify(knock(rsa, { rsaHash: 'sha512', n: 3 }), NOW));
    const big = newKey('ssh-rsa', 4096);
    const packet = knock(big);
    assert.equal(packet.length, 651);
    accepted(makeSshVerifier([['bob', big]]).verify(packet, NOW));
  });

  test('RSA below 2048 bits is refused as a key', () => {
    assert.throws(() => newKey('ssh-rsa', 1024), /RSA key of 1024 bits; expected 2048 to 8192/);
  });
});

describe('refusals', () => {
  const [ed, ecdsa, , skEd, skEc] = KEYS as [
    (typeof KEYS)[number],
    (typeof KEYS)[number],
    unknown,
    (typeof KEYS)[number],
    (typeof KEYS)[number],
  ];

  test('security keys: no user-presence flag is touch-required, unless require_touch = false', () => {
    for (const sk of [skEd, skEc]) {
      const packet = knock(sk, { flags: 0 });
      assert.equal(makeSshVerifier([['alice', sk]]).verify(packet, NOW), 'touch-required', sk.type);
      accepted(makeSshVerifier([['alice', sk, false]]).verify(packet, NOW));
    }
  });

  test('a flag byte changed after signing is bad-signature, not a way past the touch check', () => {
    const packet = knock(skEd, { flags: 0 });
    packet[SSH_OFF_SIGNATURE] = 1;
    assert.equal(makeSshVerifier([['alice', skEd]]).verify(packet, NOW), 'bad-signature');
  });

  test("another server's key: the candidate id differs, so unknown-key", () => {
    const packet = knock(ed, { serverPublic: x25519PublicOf(OTHER_SERVER_PRIVATE) });
    assert.equal(makeSshVerifier([['alice', ed]]).verify(packet, NOW), 'unknown-key');
  });

  test("a packet signed by one user's key under another user's candidate id: bad-signature", () => {
    const packet = knock(ed);
    const verifier = makeSshVerifier([['bob', ecdsa]]);
    // Re-label alice's (Ed25519, 202 bytes) packet with bob's candidate: same length, wrong signer.
    const bobCandidate = [...verifier.keyring.entries()][0]!.candidate;
    packet.set(bobCandidate, 2);
    assert.equal(verifier.verify(packet, NOW), 'bad-signature');
  });

  test('a key type sized packet of the wrong size is bad-length before any crypto', () => {
    const packet = knock(ed);
    const verifier = makeSshVerifier([['alice', ed]]);
    assert.equal(verifier.verify(packet.subarray(0, packet.length - 1), NOW), 'bad-length');
    assert.equal(verifier.verify(new Uint8Array([...packet, 0]), NOW), 'bad-length');
  });

  test('time window: stale and future by one ms past the skew, accepted at its edges', () => {
    const verifier = makeSshVerifier([['alice', ed]]);
    assert.equal(verifier.verify(knock(ed, { n: 10 }), NOW + SKEW + 1), 'stale');
    assert.equal(verifier.rejected.logFields()?.skewSec, -30);
    assert.equal(verifier.verify(knock(ed, { n: 11 }), NOW - SKEW - 1), 'future');
    accepted(verifier.verify(knock(ed, { n: 12 }), NOW + SKEW));
    accepted(verifier.verify(knock(ed, { n: 13 }), NOW - SKEW));
  });

  test('replay is per packet (candidate id, ephemeral key): a new ephemeral key is a new knock', () => {
    const verifier = makeSshVerifier([['alice', ed]]);
    accepted(verifier.verify(knock(ed, { n: 20 }), NOW));
    accepted(verifier.verify(knock(ed, { n: 21 }), NOW));
    assert.equal(verifier.verify(knock(ed, { n: 20 }), NOW), 'replay');
  });

  test('the same SSH key for two users is refused when the keyring is built', () => {
    assert.throws(
      () =>
        makeSshVerifier([
          ['alice', ed],
          ['bob', ed],
        ]),
      /already the key of user alice/,
    );
  });
});
