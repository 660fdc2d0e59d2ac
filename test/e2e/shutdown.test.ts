/**
 * (f) SIGTERM closes every grant (INPUT back to the base ruleset exactly); after a SIGKILL the
 * daemon cleans up on its next start: grants that expired meanwhile are closed (expired-while-down),
 * live ones are kept without duplicating their rule.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { canConnect } from '../lab/probes.js';
import { sleep } from '../lab/process.js';
import { e2eNet, PROTECTED_PORT, withScenario } from '../support/e2e.js';
import { grantRule, knockOk } from '../support/knockspa.js';

test('shutdown and restart', { timeout: 180_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;

  await t.test('(f) SIGTERM closes every grant, both families; exit 0', (t) =>
    withScenario(t, net, { address: '::' }, async (s) => {
      const key = s.site.keyPath('alice');
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host: net.serverV4, key });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      await knockOk(net, 'open', ['22'], { host: net.serverV6, key });
      await s.daemon.waitEvent('open', { ip: net.clientV6 }, { since: m });
      assert.deepEqual(await s.extra(4), [grantRule(net.clientV4, 'tcp', PROTECTED_PORT)]);
      assert.deepEqual(await s.extra(6), [grantRule(net.clientV6, 'tcp', PROTECTED_PORT)]);

      const exit = await s.daemon.stop('SIGTERM');
      assert.equal(exit.code, 0, `exit code after SIGTERM\n${s.daemon.describe()}`);
      const closes = s.daemon.events('close', m);
      assert.deepEqual(
        closes.map((l) => `${l.ip} ${l.why}`).sort(),
        [`${net.clientV4} shutdown`, `${net.clientV6} shutdown`],
        'both grants closed for shutdown',
      );
      assert.equal(s.daemon.events('stop', m).length, 1, 'stop event');
      await s.assertPristine('no knockspa rule, chain or jump after SIGTERM');
    }),
  );

  await t.test('(f) SIGKILL with a live grant, restart after its deadline: expired-while-down', (t) =>
    withScenario(t, net, {}, async (s) => {
      const key = s.site.keyPath('alice');
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host: net.serverV4, key, duration: 2 });
      const openEv = await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      // A live grant, a moment after it opened (the crash right at the open is the next test).
      await sleep(300);
      await s.daemon.stop('SIGKILL');
      assert.deepEqual(
        await s.extra(4),
        [grantRule(net.clientV4, 'tcp', PROTECTED_PORT)],
        'a killed daemon leaves its rule (nothing could remove it)',
      );

      const wait = Date.parse(String(openEv.deadline)) - Date.now() + 1_000;
      if (wait > 0) await sleep(wait);
      const d = await s.startAgain();
      const closeEv = await d.waitEvent('close', { why: 'expired-while-down' }, { timeoutMs: 5_000 });
      assert.equal(closeEv.ip, net.clientV4);
      assert.equal(Number(closeEv.port), PROTECTED_PORT);
      await s.assertBase('rule removed on restart');
      assert.equal(await canConnect(net, net.cli, net.serverV4, PROTECTED_PORT, { timeoutMs: 700 }), false);
    }),
  );

  await t.test('(f) SIGKILL right after the open event: the restarted daemon still knows the grant (no orphan rule)', (t) =>
    withScenario(t, net, {}, async (s) => {
      const key = s.site.keyPath('alice');
      // The window is short: try a few times. Once the daemon has logged "open" the rule is in the
      // firewall; if a crash then loses the grant, no later start will ever remove that ACCEPT.
      for (let i = 0; i < 5; i++) {
        const m = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host: net.serverV4, key, duration: 60 });
        await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
        await s.daemon.stop('SIGKILL');
        const d = await s.startAgain();
        const afterRestart = await s.extra(4);
        assert.ok(afterRestart.length <= 1, `no duplicate rule: ${JSON.stringify(afterRestart)}`);
        await d.stop('SIGTERM');
        const left = await s.extra(4);
        assert.deepEqual(
          left,
          [],
          `attempt ${i + 1}: SIGKILL right after "open", restart (start event: grants=${String(d.start.grants)}), SIGTERM: ` +
            `the firewall still has ${JSON.stringify(left)}, an orphan ACCEPT that no start or stop of the daemon removes`,
        );
        await s.assertBase(`attempt ${i + 1}: back to the base ruleset`);
        await s.startAgain();
      }
    }),
  );

  await t.test('(f) SIGKILL with a live grant, restart before its deadline: kept, one rule, closed on time', (t) =>
    withScenario(t, net, {}, async (s) => {
      const key = s.site.keyPath('alice');
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host: net.serverV4, key, duration: 6 });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      await sleep(300); // the crash right at the open is the previous test
      await s.daemon.stop('SIGKILL');
      const d = await s.startAgain();
      assert.deepEqual(await s.extra(4), [grantRule(net.clientV4, 'tcp', PROTECTED_PORT)], 'still exactly one rule after the restart');
      assert.equal(await canConnect(net, net.cli, net.serverV4, PROTECTED_PORT), true);
      await d.waitEvent('close', { why: 'timeout', ip: net.clientV4 }, { timeoutMs: 10_000 });
      await s.assertBase('closed at its original deadline');
    }),
  );
});
