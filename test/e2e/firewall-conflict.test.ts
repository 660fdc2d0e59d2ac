/**
 * The daemon says when a port it may grant is dropped by a rule it does not own: at start
 * (nftables backend under the README's iptables DROP) and at a sweep (an nftables chain with
 * policy drop added in another table under the iptables backend), as an error naming the rule;
 * and once more when the rule is gone.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { e2eNet, withScenario } from '../support/e2e.js';
import { SPA_PORT } from '../support/knockspa.js';

test('firewall conflicts in the daemon log', { timeout: 240_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;

  await t.test('nftables backend plus an iptables DROP: an error at start naming the rule', (t) =>
    withScenario(t, net, { extra: { firewall: 'nftables', sweep_interval: 1 } }, async (s) => {
      const line = await s.daemon.waitEvent('firewall-conflict', { port: 'tcp/22', family: 4 }, { timeoutMs: 5_000 });
      assert.equal(line.rule, '-A INPUT -p tcp -m tcp --dport 22 -j DROP', s.daemon.describe());
      assert.equal(line.level, 'error');
      assert.match(String(line.fix), /^delete it \(iptables -D INPUT -p tcp -m tcp --dport 22 -j DROP\)/);
      const startAt = s.daemon.log.findIndex((l) => l.event === 'start');
      assert.ok(s.daemon.log.findIndex((l) => l === line) < startAt, 'found before the daemon says it listens');
      const mark = s.daemon.mark();
      await net.runOk(net.srv, ['iptables', '-w', '-D', 'INPUT', '-p', 'tcp', '-m', 'tcp', '--dport', '22', '-j', 'DROP']);
      await s.daemon.waitEvent('firewall-conflict-gone', { port: 'tcp/22', family: 4 }, { since: mark, timeoutMs: 5_000 });
    }),
  );

  await t.test('iptables backend, then an nftables chain with policy drop: an error at the next sweep', (t) =>
    withScenario(t, net, { extra: { sweep_interval: 1 } }, async (s) => {
      assert.deepEqual(s.daemon.events('firewall-conflict'), [], 'the README base ruleset conflicts with nothing');
      const mark = s.daemon.mark();
      const ruleset = `table inet admin {\n chain input {\n  type filter hook input priority 0; policy drop;\n  ct state established,related accept\n  udp dport ${SPA_PORT} accept\n }\n}\n`;
      await net.runOk(net.srv, ['nft', '-f', '-'], { input: ruleset });
      try {
        const line = await s.daemon.waitEvent('firewall-conflict', { port: 'tcp/22', family: 4 }, { since: mark, timeoutMs: 5_000 });
        assert.equal(line.rule, 'inet admin input policy DROP');
      } finally {
        await net.runOk(net.srv, ['nft', 'delete', 'table', 'inet', 'admin']);
      }
    }),
  );
});
