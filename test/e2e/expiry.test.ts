/**
 * (b) A short grant closes by itself (why=timeout, rule gone, new connects dropped), while a TCP
 * connection made during the grant keeps working after it closed (conntrack ESTABLISHED).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { openSession, tcpConnect } from '../lab/probes.js';
import { DROP_TIMEOUT_MS, e2eNet, PROTECTED_PORT, withScenario } from '../support/e2e.js';
import { grantRule, knockOk } from '../support/knockspa.js';

test('grant expiry', { timeout: 120_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;

  await t.test('(b) --duration 2 closes by itself; an established connection survives', (t) =>
    withScenario(t, net, {}, async (s) => {
      const host = net.serverV4;
      const m = s.daemon.mark();
      const knockedAt = Date.now();
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 2 });
      const knockEv = await s.daemon.waitEvent('knock', { action: 'open' }, { since: m });
      assert.equal(knockEv.duration, 2);
      assert.equal(knockEv.capped, false);
      const openEv = await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      const deadline = Date.parse(String(openEv.deadline));
      assert.ok(Math.abs(deadline - (knockedAt + 2_000)) < 1_500, `deadline ${openEv.deadline} about 2 s after the knock`);
      assert.deepEqual(await s.extra(4), [grantRule(net.clientV4, 'tcp', PROTECTED_PORT)]);

      const session = await openSession(net, net.cli, host, PROTECTED_PORT);
      assert.match(await session.exchange('during the grant'), /during the grant/);

      const closeEv = await s.daemon.waitEvent('close', { why: 'timeout', ip: net.clientV4 }, { since: m, timeoutMs: 8_000 });
      assert.equal(Number(closeEv.port), PROTECTED_PORT);
      const closedAfter = Date.now() - knockedAt;
      assert.ok(closedAfter >= 1_500, `closed after ${closedAfter} ms, not before its time`);
      await s.assertBase('rule gone after the timeout');
      assert.equal(
        (await tcpConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome,
        'timeout',
        'new connections dropped',
      );

      assert.match(await session.exchange('after the grant closed'), /after the grant closed/, 'established connection still usable');
      await session.close();
    }),
  );
});
