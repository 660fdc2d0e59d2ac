/**
 * iptables backend, with the real iptables/ip6tables in the server namespace behind the README's
 * base ruleset: knockspa's own KNOCKSPA chain, jumped to at the configured INPUT position, each
 * rule commented with its owner and deadline; a restart with the state directory lost closes the
 * expired rules and adopts the live one; the chain deleted underneath; the spares' warm-up leaves
 * nothing; --remove-firewall.
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
import { WARMUP_CHAIN } from '../../src/server/firewall/iptables.js';

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
    withScenario(t, net, {}, async (s) => {
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
      assert.deepEqual((await listGrants(net, s.site.configPath)).map((g) => `${g.user} ${g.ip} ${g.proto}/${g.port}`), [`alice ${net.client2V4} tcp/22`]);

      const m2 = d.mark();
      await knockOk(net, 'close', ['22'], { host, key, allowIp: net.client2V4 });
      await d.waitEvent('close', { why: 'knock', ip: net.client2V4 }, { since: m2 });
      await s.assertBase('the adopted grant closes like any other');
    }),
  );

  await t.test('chain deleted underneath: logged with the tool\'s stderr, the chain and jump recreated, the lost rule put back', (t) =>
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
      assert.equal(error?.argv?.toString(), 'iptables-nft-restore,-w,--noflush', 'the nf_tables tool by its own name (iptables.ts, warmUpIfNft)');
      assert.match(String(error?.stderr), /lines 1-6 of its input are knockspa's warm-up/);
      assert.match(String(error?.stderr), /No chain\/target\/match by that name/, `iptables-restore's stderr: ${String(error?.stderr)}`);
      assert.equal(s.daemon.proc.exited, false);
      assert.equal(await hasKnockspaChain(net, 4), true);
      assert.ok((await s.rules(4)).includes(JUMP_RULE));
      assert.deepEqual((await s.extra(4)).sort(), [grantRule(net.clientV4, 'tcp', PROTECTED_PORT), grantRule(net.client2V4, 'tcp', PROTECTED_PORT)].sort());
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT), true);
    }),
  );

  await t.test('the spares\' warm-up chain never shows in the ruleset; one of that name made later fails knocks with its name in the log; one there before stops the start, named, before any change', (t) =>
    withScenario(t, net, {}, async (s) => {
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 60 });
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 60, allowIp: net.clientV6 });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      await s.daemon.waitEvent('open', { ip: net.clientV6 }, { since: m });
      const live = await firewallSnapshot(net, net.srv);
      assert.deepEqual([await s.extra(4), await s.extra(6)], [[grantRule(net.clientV4, 'tcp', PROTECTED_PORT)], [grantRule(net.clientV6, 'tcp', PROTECTED_PORT)]], 'both grants are in');
      assert.doesNotMatch(`${live.v4}${live.v6}`, /WARMUP/);

      // Made after the start: the batch fails, and the repair's setup says why.
      await net.runOk(net.srv, ['iptables', '-w', '-N', WARMUP_CHAIN]);
      let mark = s.daemon.mark();
      await knockOk(net, 'close', ['22'], { host, key: s.site.keyPath('alice') });
      const named = await s.daemon.waitEvent('firewall-error', { op: 'setup' }, { since: mark });
      assert.match(String(named.stderr), /iptables-nft: a chain KNOCKSPA-WARMUP exists/);
      assert.deepEqual(await s.extra(4), [grantRule(net.clientV4, 'tcp', PROTECTED_PORT)], 'the close did not go in');
      await net.runOk(net.srv, ['iptables', '-w', '-X', WARMUP_CHAIN]);
      mark = s.daemon.mark();
      await knockOk(net, 'close', ['22'], { host, key: s.site.keyPath('alice') });
      await s.daemon.waitEvent('close', { why: 'knock', ip: net.clientV4 }, { since: mark });

      await s.daemon.stop('SIGTERM');
      await s.assertPristine();
      const stopped = await firewallSnapshot(net, net.srv);
      assert.doesNotMatch(`${stopped.v4}${stopped.v6}`, /WARMUP/);

      await net.runOk(net.srv, ['ip6tables', '-w', '-N', WARMUP_CHAIN]);
      const before = await firewallSnapshot(net, net.srv);
      const r = await cliInServer(net, ['server', '--config', s.site.configPath]);
      const after = await firewallSnapshot(net, net.srv);
      await net.runOk(net.srv, ['ip6tables', '-w', '-X', WARMUP_CHAIN]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /ip6tables-nft: a chain KNOCKSPA-WARMUP exists/);
      assert.deepEqual(after, before, 'no chain, no jump in either family');
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
