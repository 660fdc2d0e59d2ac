/**
 * (e) --allow-ip: a knock sent from 198.18.0.2 opens for 198.18.0.3 only.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { tcpConnect } from '../lab/probes.js';
import { DROP_TIMEOUT_MS, e2eNet, PROTECTED_PORT, withScenario } from '../support/e2e.js';
import { grantRule, knockOk } from '../support/knockspa.js';

test('allow-ip', { timeout: 120_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;

  await t.test('(e) --allow-ip 198.18.0.3 sent from 198.18.0.2: .3 connects, .2 does not', (t) =>
    withScenario(t, net, {}, async (s) => {
      const key = s.site.keyPath('alice');
      let m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, allowIp: net.client2V4 });
      const knockEv = await s.daemon.waitEvent('knock', { action: 'open' }, { since: m });
      assert.equal(knockEv.source, net.clientV4, 'sent from .2');
      assert.equal(knockEv.ip, net.client2V4, 'granted to .3');
      await s.daemon.waitEvent('open', { ip: net.client2V4 }, { since: m });
      assert.deepEqual(await s.extra(4), [grantRule(net.client2V4, 'tcp', PROTECTED_PORT)]);

      assert.equal(
        (await tcpConnect(net, net.cli, host, PROTECTED_PORT, { localAddress: net.client2V4 })).outcome,
        'connected',
        'from .3: connected',
      );
      assert.equal(
        (await tcpConnect(net, net.cli, host, PROTECTED_PORT, { localAddress: net.clientV4, timeoutMs: DROP_TIMEOUT_MS })).outcome,
        'timeout',
        'from .2: dropped',
      );

      m = s.daemon.mark();
      await knockOk(net, 'close', ['22'], { host, key, allowIp: net.client2V4 });
      await s.daemon.waitEvent('close', { why: 'knock', ip: net.client2V4 }, { since: m });
      await s.assertBase();
      assert.equal(
        (await tcpConnect(net, net.cli, host, PROTECTED_PORT, { localAddress: net.client2V4, timeoutMs: DROP_TIMEOUT_MS })).outcome,
        'timeout',
        'from .3: dropped after close',
      );
    }),
  );

  await t.test('(e) an IPv4 knock may open for an IPv6 address (ip6tables only)', (t) =>
    withScenario(t, net, {}, async (s) => {
      const key = s.site.keyPath('alice');
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, allowIp: net.client2V6, duration: 5 });
      await s.daemon.waitEvent('open', { ip: net.client2V6 }, { since: m });
      assert.deepEqual(await s.extra(6), [grantRule(net.client2V6, 'tcp', PROTECTED_PORT)]);
      assert.deepEqual(await s.extra(4), [], 'iptables (IPv4) untouched');
      assert.equal((await tcpConnect(net, net.cli, net.serverV6, PROTECTED_PORT, { localAddress: net.client2V6 })).outcome, 'connected');
      assert.equal(
        (await tcpConnect(net, net.cli, net.serverV6, PROTECTED_PORT, { localAddress: net.clientV6, timeoutMs: DROP_TIMEOUT_MS })).outcome,
        'timeout',
      );
      assert.equal(
        (await tcpConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome,
        'timeout',
        'IPv4 still closed',
      );
    }),
  );
});
