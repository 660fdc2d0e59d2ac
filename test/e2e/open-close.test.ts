/**
 * (a) closed -> open knock -> TCP connect works -> close knock -> dropped again, no ACCEPT left;
 * over the udp listener and the pcap listener (which binds nothing: the SPA port is dropped too).
 * (g) the same over IPv6 (ip6tables).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { Family } from '../lab/netns.js';
import { tcpConnect } from '../lab/probes.js';
import { DROP_TIMEOUT_MS, e2eNet, PROTECTED_PORT, withScenario, type Scenario } from '../support/e2e.js';
import { grantRule, knockOk, SPA_PORT } from '../support/knockspa.js';

async function openConnectClose(s: Scenario, family: Family): Promise<void> {
  const { net, site } = s;
  const host = family === 4 ? net.serverV4 : net.serverV6;
  const client = family === 4 ? net.clientV4 : net.clientV6;
  const key = site.keyPath('alice');

  await s.assertBase('before any knock');
  assert.equal(
    (await tcpConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome,
    'timeout',
    'closed (dropped) before the knock',
  );

  let m = s.daemon.mark();
  await knockOk(net, 'open', [String(PROTECTED_PORT)], { host, key });
  const knockEv = await s.daemon.waitEvent('knock', { action: 'open' }, { since: m });
  assert.equal(knockEv.user, 'alice');
  assert.equal(knockEv.ip, client);
  assert.equal(knockEv.source, client);
  assert.deepEqual(knockEv.ports, ['tcp/22']);
  assert.equal(knockEv.duration, 30, 'default_duration applies when the client asks for none');
  const openEv = await s.daemon.waitEvent('open', (l) => l.ip === client && Number(l.port) === PROTECTED_PORT && l.proto === 'tcp', {
    since: m,
  });
  const deadlineIn = Date.parse(String(openEv.deadline)) - Date.now();
  assert.ok(deadlineIn > 20_000 && deadlineIn <= 31_000, `deadline about 30 s ahead (${deadlineIn} ms)`);

  assert.deepEqual(await s.extra(family), [grantRule(client, 'tcp', PROTECTED_PORT)], 'exactly one ACCEPT for the knocking address');
  assert.deepEqual(await s.extra(family === 4 ? 6 : 4), [], 'the other family is untouched');
  assert.equal((await tcpConnect(net, net.cli, host, PROTECTED_PORT)).outcome, 'connected', 'connect succeeds after the knock');

  m = s.daemon.mark();
  await knockOk(net, 'close', [String(PROTECTED_PORT)], { host, key });
  await s.daemon.waitEvent('knock', { action: 'close', user: 'alice' }, { since: m });
  await s.daemon.waitEvent('close', (l) => l.why === 'knock' && l.ip === client && Number(l.port) === PROTECTED_PORT, { since: m });
  await s.assertBase('no ACCEPT rule left after the close knock');
  assert.equal(
    (await tcpConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome,
    'timeout',
    'dropped again after close',
  );
}

test('open / connect / close', { timeout: 180_000 }, async (t) => {
  const net = await e2eNet(t, ['ss']);
  if (net === null) return;

  await t.test('(a) udp listener, IPv4', (t) =>
    withScenario(t, net, { listen: 'udp' }, async (s) => {
      assert.match(String(s.daemon.start.listener), /^udp /);
      assert.equal(s.daemon.start.firewall, 'iptables');
      await openConnectClose(s, 4);
    }),
  );

  await t.test('(a) pcap listener, IPv4, SPA port dropped by the firewall, nothing bound', (t) =>
    withScenario(t, net, { listen: 'pcap' }, async (s) => {
      assert.match(String(s.daemon.start.listener), /^pcap /);
      assert.ok((await s.rules(4)).includes(`-A INPUT -p udp -m udp --dport ${SPA_PORT} -j DROP`), 'SPA port dropped');
      const ss = await net.runOk(net.srv, ['ss', '-H', '-u', '-l', '-n']);
      assert.ok(!ss.stdout.includes(`:${SPA_PORT}`), `no UDP socket bound on ${SPA_PORT}:\n${ss.stdout}`);
      await openConnectClose(s, 4);
    }),
  );

  await t.test('(g) udp listener, IPv6 (dual-stack bind "::")', (t) =>
    withScenario(t, net, { listen: 'udp', address: '::' }, async (s) => {
      await openConnectClose(s, 6);
    }),
  );

  await t.test('(g) pcap listener, IPv6', (t) =>
    withScenario(t, net, { listen: 'pcap' }, async (s) => {
      await openConnectClose(s, 6);
    }),
  );
});
