/**
 * (d) Packets that must not open anything, each with its reason in the log and the firewall
 * unchanged; and a duration over the user's cap, accepted but capped.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseKeyFile } from '../../src/protocol/index.js';
import type { LogLine } from '../lab/process.js';
import { canConnect, sendUdp, tcpConnect } from '../lab/probes.js';
import { DROP_TIMEOUT_MS, e2eNet, PROTECTED_PORT, withScenario, type Scenario } from '../support/e2e.js';
import { craftPacket, grantRule, keygen, knock, knockOk, SPA_PORT } from '../support/knockspa.js';

/** Asserts that what happened since `m` is exactly one reject with `reason`, and no grant; returns the reject line. */
async function assertRejected(s: Scenario, m: number, reason: string): Promise<LogLine> {
  const rej = await s.daemon.waitEvent('reject', {}, { since: m });
  assert.equal(rej.reason, reason, `reject reason (line: ${JSON.stringify(rej)})`);
  assert.equal(rej.source, s.net.clientV4);
  // Give a wrongly accepted knock the time to show up before declaring there is none.
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(s.daemon.events('knock', m), [], `no knock accepted (${reason})`);
  assert.deepEqual(s.daemon.events('open', m), [], `no grant opened (${reason})`);
  await s.assertBase(`no rule after a ${reason} packet`);
  return rej;
}

/** The key id of a key file, as the daemon logs it (hex). */
function keyIdOf(keyFile: string): string {
  return Buffer.from(parseKeyFile(readFileSync(keyFile, 'utf8')).keyId).toString('hex');
}

/** Asserts a reject line names who sent the authenticated packet: user and key id; skewSec only for time rejects. */
function assertNamesSender(rej: LogLine, keyId: string, skew?: { near: number }): void {
  assert.equal(rej.user, 'alice', `user in ${JSON.stringify(rej)}`);
  assert.equal(rej.keyId, keyId, `keyId in ${JSON.stringify(rej)}`);
  if (skew === undefined) assert.equal(rej.skewSec, undefined, `no skewSec in ${JSON.stringify(rej)}`);
  else {
    assert.equal(typeof rej.skewSec, 'number', `skewSec in ${JSON.stringify(rej)}`);
    assert.ok(Math.abs((rej.skewSec as number) - skew.near) < 5, `skewSec ${String(rej.skewSec)} near ${skew.near}`);
  }
}

test('rejections', { timeout: 180_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;

  await t.test('(d) unknown key, port not allowed, ip required', (t) =>
    withScenario(
      t,
      net,
      { users: { alice: { ports: ['tcp/22'], max_duration: 300 }, bob: { ports: ['tcp/22'], max_duration: 300, require_ip: true } } },
      async (s) => {
        // A well-formed key for the right server id, that the server does not have.
        const mallory = await keygen(s.site.otherKeysDir, 'mallory');
        let m = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host, key: mallory });
        await assertRejected(s, m, 'unknown-key');

        m = s.daemon.mark();
        await knockOk(net, 'open', ['2222'], { host, key: s.site.keyPath('alice') });
        await assertRejected(s, m, 'port-not-allowed');

        m = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('bob') });
        await assertRejected(s, m, 'ip-required');

        // bob with an explicit address is fine.
        m = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('bob'), allowIp: net.clientV4, duration: 5 });
        await s.daemon.waitEvent('open', { user: 'bob', ip: net.clientV4 }, { since: m });
        assert.deepEqual(await s.extra(4), [grantRule(net.clientV4, 'tcp', PROTECTED_PORT)]);
      },
    ),
  );

  await t.test('(d) a duration over max_duration is accepted, capped', (t) =>
    withScenario(t, net, { users: { alice: { ports: ['tcp/22'], max_duration: 300 } } }, async (s) => {
      const key = s.site.keyPath('alice');
      let m = s.daemon.mark();
      const at = Date.now();
      await knockOk(net, 'open', ['22'], { host, key, duration: 600 });
      const knockEv = await s.daemon.waitEvent('knock', { action: 'open' }, { since: m });
      assert.equal(knockEv.duration, 300, 'duration capped to max_duration');
      assert.equal(knockEv.capped, true);
      const openEv = await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      const ahead = Date.parse(String(openEv.deadline)) - at;
      assert.ok(ahead > 295_000 && ahead < 305_000, `deadline ${openEv.deadline} is 300 s ahead, not 600 (${ahead} ms)`);
      assert.deepEqual(await s.extra(4), [grantRule(net.clientV4, 'tcp', PROTECTED_PORT)]);
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT), true);
      m = s.daemon.mark();
      await knockOk(net, 'close', ['22'], { host, key });
      await s.daemon.waitEvent('close', { why: 'knock' }, { since: m });
      await s.assertBase();
    }),
  );

  await t.test('(d) crafted packets: stale, future, wrong server, replay name user, key id and skew; bad MAC names no one', (t) =>
    withScenario(t, net, {}, async (s) => {
      const keyFile = s.site.keyPath('alice');
      const keyId = keyIdOf(keyFile);
      const send = (bytes: Uint8Array): Promise<void> => sendUdp(net, net.cli, host, SPA_PORT, bytes);

      let m = s.daemon.mark();
      await send(craftPacket({ keyFile, timestampMs: Date.now() - 120_000 }));
      assertNamesSender(await assertRejected(s, m, 'stale'), keyId, { near: -120 });

      m = s.daemon.mark();
      await send(craftPacket({ keyFile, timestampMs: Date.now() + 120_000 }));
      assertNamesSender(await assertRejected(s, m, 'future'), keyId, { near: 120 });

      m = s.daemon.mark();
      await send(craftPacket({ keyFile, serverId: 'other.test' }));
      assertNamesSender(await assertRejected(s, m, 'wrong-server'), keyId);

      m = s.daemon.mark();
      const tampered = craftPacket({ keyFile });
      tampered[60] = (tampered[60] as number) ^ 0x01; // one bit of ciphertext
      await send(tampered);
      const badMac = await assertRejected(s, m, 'bad-mac');
      // Not authenticated: the packet's claims are not repeated as fact.
      assert.equal(badMac.user, undefined, JSON.stringify(badMac));
      assert.equal(badMac.skewSec, undefined, JSON.stringify(badMac));

      // The same machinery with an honest clock does open: the rejections above were for their reason.
      m = s.daemon.mark();
      const good = craftPacket({ keyFile, durationSec: 5 });
      await send(good);
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      assert.deepEqual(await s.extra(4), [grantRule(net.clientV4, 'tcp', PROTECTED_PORT)]);
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT), true);

      // The very same packet again: a replay, named like the others.
      m = s.daemon.mark();
      await send(good);
      const replay = await s.daemon.waitEvent('reject', {}, { since: m });
      assert.equal(replay.reason, 'replay', JSON.stringify(replay));
      assertNamesSender(replay, keyId);
      assert.deepEqual(s.daemon.events('knock', m), [], 'the replay opened nothing');
    }),
  );

  await t.test('(d) the client refuses bad input before sending anything', (t) =>
    withScenario(t, net, {}, async (s) => {
      const m = s.daemon.mark();
      const r = await knock(net, 'open', ['0'], { host, key: s.site.keyPath('alice') });
      assert.equal(r.code, 2, `port 0 is a usage error (exit 2)\nstderr: ${r.stderr}`);
      await new Promise((res) => setTimeout(res, 300));
      assert.deepEqual(s.daemon.log.slice(m), [], 'nothing reached the daemon');
      await s.assertBase();
      assert.equal((await tcpConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome, 'timeout');
    }),
  );
});
