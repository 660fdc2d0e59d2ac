/**
 * iptables backend, with the real iptables/ip6tables in the server namespace behind the README's
 * base ruleset: knockspa's own KNOCKSPA chain, jumped to at the configured INPUT position, each
 * rule commented with its owner and deadline; a restart with the state directory lost closes the
 * expired rules and adopts the live one; the chain deleted underneath; batches in both families
 * through the spares leave nothing but knockspa's chain, jump and rules; --remove-firewall.
 */
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { canConnect } from '../lab/probes.js';
import { sleep } from '../lab/process.js';
import { firewallSnapshot } from '../lab/ruleset.js';
import { DROP_TIMEOUT_MS, e2eNet, PROTECTED_PORT, withScenario } from '../support/e2e.js';
import { cliInServer, listGrants } from '../support/firewall.js';
import { grantRule, hasKnockspaChain, JUMP_RULE, knockOk, knockspaChain } from '../support/knockspa.js';

test('iptables backend', { timeout: 180_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;

  await t.test('own chain at the configured INPUT position; each rule carries owner and deadline; SIGTERM takes it all out', (t) =>
    withScenario(t, net, { extra: { iptables_jump_position: 3 } }, async (s) => {
      for (const family of [4, 6] as const) {
        const input = (await s.rules(family)).filter((r) => r.startsWith('-A '));
        assert.equal(input[2], JUMP_RULE, `the jump is INPUT rule 3 (${family === 4 ? 'iptables' : 'ip6tables'})`);
      }
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 60 });
      const openEv = await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      const deadline = Math.ceil(Date.parse(String(openEv.deadline)) / 1000);
      assert.deepEqual(await knockspaChain(net, 4), [
        `-A KNOCKSPA -s ${net.clientV4}/32 -p tcp -m tcp --dport 22 -m comment --comment "knockspa alice@${net.clientV4}/tcp/22 until ${deadline}" -j ACCEPT`,
      ]);
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT), true);
      await s.daemon.stop('SIGTERM');
      await s.assertPristine();
    }),
  );

  await t.test('SIGKILL, state directory deleted: the next start removes the expired rule and adopts the live one from its comment', (t) =>
    withScenario(t, net, { extra: { max_skew: 2 } }, async (s) => {
      const key = s.site.keyPath('alice');
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 2 });
      const shortEv = await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      await knockOk(net, 'open', ['22'], { host, key, duration: 60, allowIp: net.client2V4 });
      await s.daemon.waitEvent('open', { ip: net.client2V4 }, { since: m });
      await s.daemon.stop('SIGKILL');
      rmSync(s.site.stateDir, { recursive: true, force: true });
      assert.equal((await knockspaChain(net, 4)).length, 2, 'a killed daemon leaves its rules');

      await sleep(Math.max(0, Date.parse(String(shortEv.deadline)) - Date.now() + 1_000));
      const d = await s.startAgain();
      const closeEv = await d.waitEvent('close', { ip: net.clientV4 }, { timeoutMs: 5_000 });
      assert.equal(closeEv.why, 'expired-while-down');
      assert.equal(closeEv.user, 'alice', 'the owner, from the comment');
      assert.equal(d.start.grants, 1, 'the live rule is adopted');
      assert.deepEqual(await s.extra(4), [grantRule(net.client2V4, 'tcp', PROTECTED_PORT)], 'the expired rule is gone, the live one kept');
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS }), false);
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT, { localAddress: net.client2V4 }), true);
      assert.deepEqual(
        (await listGrants(net, s.site.configPath)).map((g) => `${g.user} ${g.ip} ${g.proto}/${g.port}`),
        [`alice ${net.client2V4} tcp/22`],
      );

      // The replay cache was lost with the directory: knocks are refused until start + max_skew.
      await sleep(Math.max(0, Date.parse(String(d.start.time)) + 2_100 - Date.now()));
      const m2 = d.mark();
      await knockOk(net, 'close', ['22'], { host, key, allowIp: net.client2V4 });
      await d.waitEvent('close', { why: 'knock', ip: net.client2V4 }, { since: m2 });
      await s.assertBase('the adopted grant closes like any other');
    }),
  );

  await t.test("chain deleted underneath: logged with the tool's stderr, the chain and jump recreated, the lost rule put back", (t) =>
    withScenario(t, net, { extra: { sweep_interval: 3600 } }, async (s) => {
      const key = s.site.keyPath('alice');
      let m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 120 });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      for (const ipt of ['iptables', 'ip6tables']) {
        await net.runOk(net.srv, [ipt, '-w', '-D', 'INPUT', '-j', 'KNOCKSPA']);
        await net.runOk(net.srv, [ipt, '-w', '-F', 'KNOCKSPA']);
        await net.runOk(net.srv, [ipt, '-w', '-X', 'KNOCKSPA']);
      }
      m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 120, allowIp: net.client2V4 });
      await s.daemon.waitEvent('open', { ip: net.client2V4 }, { since: m });
      const [error] = s.daemon.events('firewall-error', m);
      assert.equal(error?.argv?.toString(), 'iptables-restore,-w,--noflush');
      assert.match(String(error?.stderr), /No chain\/target\/match by that name/, `iptables-restore's stderr: ${String(error?.stderr)}`);
      assert.equal(s.daemon.proc.exited, false);
      assert.equal(await hasKnockspaChain(net, 4), true);
      assert.ok((await s.rules(4)).includes(JUMP_RULE));
      assert.deepEqual(
        (await s.extra(4)).sort(),
        [grantRule(net.clientV4, 'tcp', PROTECTED_PORT), grantRule(net.client2V4, 'tcp', PROTECTED_PORT)].sort(),
      );
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT), true);
    }),
  );

  await t.test(
    "batches in both families, one after another through the spares: each goes in whole, and the filter table holds only knockspa's chain, jump and rules",
    (t) =>
      withScenario(t, net, {}, async (s) => {
        const key = s.site.keyPath('alice');
        for (let round = 0; round < 3; round++) {
          const m = s.daemon.mark();
          await knockOk(net, 'open', ['22'], { host, key, duration: 60 });
          await knockOk(net, 'open', ['22'], { host, key, duration: 60, allowIp: net.clientV6 });
          await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
          await s.daemon.waitEvent('open', { ip: net.clientV6 }, { since: m });
          assert.deepEqual(
            [await s.extra(4), await s.extra(6)],
            [[grantRule(net.clientV4, 'tcp', PROTECTED_PORT)], [grantRule(net.clientV6, 'tcp', PROTECTED_PORT)]],
            `round ${round}: both grants are in`,
          );
          const live = await firewallSnapshot(net, net.srv);
          for (const [family, text] of [
            [4, live.v4],
            [6, live.v6],
          ] as const) {
            const chains = text
              .split('\n')
              .filter((l) => l.startsWith('-N '))
              .sort();
            assert.deepEqual(chains, ['-N KNOCKSPA'], `round ${round}: IPv${family} has knockspa's chain and no other of its own`);
          }
          assert.equal(s.daemon.events('firewall-error', m).length, 0, 'no batch failed');
          const closed = s.daemon.mark();
          await knockOk(net, 'close', ['22'], { host, key });
          await knockOk(net, 'close', ['22'], { host, key, allowIp: net.clientV6 });
          await s.daemon.waitEvent('close', { why: 'knock', ip: net.clientV4 }, { since: closed });
          await s.daemon.waitEvent('close', { why: 'knock', ip: net.clientV6 }, { since: closed });
          assert.deepEqual([await s.extra(4), await s.extra(6)], [[], []], `round ${round}: both grants are out`);
        }
        await s.daemon.stop('SIGTERM');
        await s.assertPristine();
      }),
  );

  await t.test('--remove-firewall after a SIGKILL takes out the chain, its rules and the jump', (t) =>
    withScenario(t, net, {}, async (s) => {
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 120 });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      await s.daemon.stop('SIGKILL');
      const r = await cliInServer(net, ['server', '--config', s.site.configPath, '--remove-firewall']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /removed chain KNOCKSPA and its jump from INPUT/);
      await s.assertPristine();
    }),
  );
});
