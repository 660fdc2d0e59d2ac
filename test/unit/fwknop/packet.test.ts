/**
 * Whole packets on the wire: the shape checks before any crypto, the HMAC of each user, the time
 * window, the replay guard on the HMAC'd bytes, the trial budget; and fwknop's published wire-level
 * bad inputs (test/tests/rijndael_fuzzing.pl): truncated, altered base64, appended and prepended data.
 */
import { strict as assert } from 'node:assert';
import { createHash, createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { ReplayGuard } from '../../../src/protocol/replay.js';
import {
  FWKNOP_REJECT_REASONS,
  FwknopKeyring,
  HMAC_B64_LENGTH,
  MAX_PACKET_LENGTH,
  MIN_PACKET_LENGTH,
  randomValueFrom,
  SALTED_PREFIX_B64,
} from '../../../src/protocol/fwknop/index.js';
import { ALICE_KEYS, BOB_KEYS, bytes, counting, FIELDS, makeVerifier, mustVerify, NOW, NOW_SEC, packetOf, SKEW } from './fixtures.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

describe('fwknop packet', () => {
  test("accepted: the fields, the user whose keys made it, and an id that is SHA-256 of the HMAC'd text", () => {
    const packet = packetOf({
      allowIp: null,
      ports: [
        { proto: 'tcp', port: 22 },
        { proto: 'udp', port: 53 },
      ],
      clientTimeoutSec: 120,
      username: 'deploy',
    });
    const v = mustVerify(
      makeVerifier([
        ['alice', ALICE_KEYS],
        ['bob', BOB_KEYS],
      ]).verify(packet, NOW),
    );
    const signed = SALTED_PREFIX_B64 + text(packet).slice(0, -HMAC_B64_LENGTH);
    assert.deepEqual(v, {
      format: 'fwknop',
      timestampMs: NOW,
      action: 'open',
      ports: [
        { proto: 'tcp', port: 22 },
        { proto: 'udp', port: 53 },
      ],
      allowIp: null,
      durationSec: 120,
      user: 'alice',
      fwknopUser: 'deploy',
      packetId: `fwknop:${createHash('sha256').update(signed).digest('hex')}`,
    });
    // The tag, recomputed with node:crypto: HMAC-SHA256 over the text with the prefix restored.
    assert.equal(
      createHmac('sha256', ALICE_KEYS.hmacKey).update(signed).digest('base64').replace(/=+$/, ''),
      text(packet).slice(-HMAC_B64_LENGTH),
    );
    assert.equal(
      mustVerify(
        makeVerifier([
          ['alice', ALICE_KEYS],
          ['bob', BOB_KEYS],
        ]).verify(packetOf({}, undefined, BOB_KEYS), NOW),
      ).user,
      'bob',
    );
  });

  test('the wire text never starts with the stripped prefix and starts with one of 8 9 + /', () => {
    for (let s = 0; s < 256; s += 17) assert.match(text(packetOf({}, counting(8, s))), /^[89+/]/);
  });

  test('shape: lengths, alphabet, the prefix re-added, no users', () => {
    const packet = packetOf();
    const v = makeVerifier();
    assert.equal(v.verify(new Uint8Array(0), NOW), 'fwknop-bad-length');
    assert.equal(v.verify(packet.subarray(0, MIN_PACKET_LENGTH - 1), NOW), 'fwknop-bad-length');
    assert.equal(v.verify(bytes('A'.repeat(MAX_PACKET_LENGTH + 1)), NOW), 'fwknop-bad-length');
    assert.equal(v.verify(bytes(`${text(packet)}=`), NOW), 'fwknop-bad-base64', 'padding is never sent');
    assert.equal(v.verify(bytes(`${text(packet)}\n`), NOW), 'fwknop-bad-base64');
    assert.equal(v.verify(bytes(SALTED_PREFIX_B64 + text(packet)), NOW), 'fwknop-bad-prefix');
    assert.equal(makeVerifier([]).verify(packet, NOW), 'fwknop-unknown-key');
    mustVerify(v.verify(packet, NOW));
  });

  test('truncated anywhere: refused', () => {
    const packet = packetOf();
    const v = makeVerifier();
    for (let n = 0; n < packet.length; n++)
      assert.ok(FWKNOP_REJECT_REASONS.includes(v.verify(packet.subarray(0, n), NOW) as never), `first ${n} bytes`);
    for (let n = 1; n < packet.length; n++)
      assert.ok(FWKNOP_REJECT_REASONS.includes(v.verify(packet.subarray(n), NOW) as never), `from byte ${n}`);
  });

  test('altered base64: any character of the data changed is bad-mac; of the tag, bad-mac or bad-base64', () => {
    const packet = packetOf();
    const v = makeVerifier();
    for (let i = 0; i < packet.length; i++) {
      const changed = packet.slice();
      changed[i] = B64.charCodeAt((B64.indexOf(String.fromCharCode(packet[i] as number)) + 1 + (i % 60)) % 64);
      const reason = v.verify(changed, NOW);
      if (i < packet.length - HMAC_B64_LENGTH) assert.equal(reason, 'fwknop-bad-mac', `position ${i}`);
      else assert.ok(reason === 'fwknop-bad-mac' || reason === 'fwknop-bad-base64', `position ${i}: ${String(reason)}`);
      changed[i] = 0x2a; // '*': not base64 at all
      assert.equal(v.verify(changed, NOW), 'fwknop-bad-base64', `non-base64 at ${i}`);
    }
  });

  test("the tag's last character has 2 unused bits: another spelling of the same tag is refused", () => {
    const packet = packetOf();
    const last = B64.indexOf(String.fromCharCode(packet[packet.length - 1] as number));
    assert.equal(last & 3, 0, 'canonical: the unused bits are zero');
    const respelled = packet.slice();
    respelled[respelled.length - 1] = B64.charCodeAt(last | 1);
    assert.equal(makeVerifier().verify(respelled, NOW), 'fwknop-bad-base64');
  });

  test('appended or prepended data: refused', () => {
    const packet = text(packetOf());
    const v = makeVerifier();
    for (const extra of ['A', 'AAAA', '+/+/', 'U2FsdGVkX1', B64]) {
      assert.ok(['fwknop-bad-mac', 'fwknop-bad-base64'].includes(v.verify(bytes(packet + extra), NOW) as string), `appended ${extra}`);
      const front = v.verify(bytes(extra + packet), NOW);
      assert.equal(front, extra === 'U2FsdGVkX1' ? 'fwknop-bad-prefix' : 'fwknop-bad-mac', `prepended ${extra}`);
    }
    assert.equal(v.verify(bytes(packet + 'A'.repeat(MAX_PACKET_LENGTH)), NOW), 'fwknop-bad-length');
  });

  test('a wrong HMAC key is bad-mac; the right HMAC key with the wrong encryption key is bad-padding or worse', () => {
    const packet = packetOf();
    assert.equal(makeVerifier([['bob', BOB_KEYS]]).verify(packet, NOW), 'fwknop-bad-mac');
    const mixed = makeVerifier([['alice', { encKey: BOB_KEYS.encKey, hmacKey: ALICE_KEYS.hmacKey }]]).verify(packet, NOW);
    assert.ok(['fwknop-bad-padding', 'fwknop-bad-encoding'].includes(mixed as string), String(mixed));
  });

  test('time window: both directions, in whole seconds', () => {
    const at = (offsetSec: number): string | number => {
      const r = makeVerifier().verify(packetOf({ timestampSec: NOW_SEC + offsetSec }), NOW);
      return typeof r === 'string' ? r : r.timestampMs;
    };
    assert.equal(at(-30), NOW - SKEW);
    assert.equal(at(30), NOW + SKEW);
    assert.equal(at(-31), 'fwknop-stale');
    assert.equal(at(31), 'fwknop-future');
    assert.equal(makeVerifier().verify(packetOf({ timestampSec: 0 }), NOW), 'fwknop-stale');
  });

  test('replay: the same bytes again, until the window closes, and across a saved guard', () => {
    const guard = new ReplayGuard(100);
    const packet = packetOf();
    const v = makeVerifier(undefined, { replay: guard });
    mustVerify(v.verify(packet, NOW));
    assert.equal(v.verify(packet, NOW + 1_000), 'fwknop-replay');
    assert.equal(v.verify(packet, NOW + SKEW), 'fwknop-replay', 'remembered until timestamp + skew');
    assert.equal(v.verify(packet, NOW + SKEW + 1), 'fwknop-stale');
    const restored = ReplayGuard.fromState(JSON.parse(JSON.stringify(guard.toState())), 100, NOW + 1_000);
    assert.equal(makeVerifier(undefined, { replay: restored }).verify(packet, NOW + 1_000), 'fwknop-replay');
    assert.equal(restored.size, 1);
    // The same fields with a fresh salt and random value are a new packet.
    mustVerify(v.verify(packetOf({ randomValue: randomValueFrom(counting(8, 3)) }, counting(8, 9)), NOW));
  });

  test('replay guard: one user holds at most its quota', () => {
    const v = makeVerifier(undefined, { replay: new ReplayGuard(1000, 2) });
    mustVerify(v.verify(packetOf({}, counting(8, 1)), NOW));
    mustVerify(v.verify(packetOf({}, counting(8, 2)), NOW));
    assert.equal(v.verify(packetOf({}, counting(8, 3)), NOW), 'fwknop-user-over-quota');
  });

  test('screen: the cheap checks alone, and what authenticating costs (one HMAC per user)', () => {
    const v = makeVerifier([
      ['alice', ALICE_KEYS],
      ['bob', BOB_KEYS],
    ]);
    assert.equal(v.screen(bytes(SALTED_PREFIX_B64 + text(packetOf()))), 'fwknop-bad-prefix');
    const screened = v.screen(packetOf());
    assert.ok(typeof screened !== 'string');
    assert.equal(v.size, 2);
    mustVerify(v.authenticate(screened, NOW));
  });

  test('the keyring refuses one HMAC key for two users', () => {
    const ring = new FwknopKeyring();
    ring.add('alice', ALICE_KEYS);
    assert.throws(() => ring.add('bob', { encKey: BOB_KEYS.encKey, hmacKey: ALICE_KEYS.hmacKey }), /same fwknop HMAC key as user alice/);
    assert.throws(() => ring.add('alice', BOB_KEYS), /already/);
    assert.equal(ring.size, 1, 'only the first alice is in');
  });

  test("the packet for FIELDS is what fwknop's layout predicts in length", () => {
    // 16+1+6+1+10+1+5+1+1+1+26+1+43 = 113 plaintext -> 128 padded + 16 header = 144 bytes = 192 base64, -10 +43.
    assert.equal(packetOf().length, 225);
    assert.equal(FIELDS.digest, 'sha256');
  });

  test('randomValueFrom: 16 digits from 8 bytes', () => {
    assert.equal(randomValueFrom(new Uint8Array(8)), '0000000000000000');
    assert.match(randomValueFrom(new Uint8Array(8).fill(0xff)), /^[0-9]{16}$/);
    assert.throws(() => randomValueFrom(new Uint8Array(7)));
  });
});
