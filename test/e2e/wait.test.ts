/**
 * `knockspa open --wait`: probes the TCP port after the knock; reports how long it took, or after
 * --wait-timeout the likely causes, exiting non-zero.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { e2eNet, withScenario } from '../support/e2e.js';
import { knock } from '../support/knockspa.js';

test('open --wait', { timeout: 120_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;

  await t.test('connects after a good knock and says how long it took', (t) =>
    withScenario(t, net, {}, async (s) => {
      const r = await knock(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), wait: true });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^tcp\/22 open after \d+ ms$/m);
      await s.daemon.waitEvent('open', { ip: net.clientV4 });
    }),
  );

  await t.test('gives up after --wait-timeout with the likely causes, exit 1', (t) =>
    withScenario(t, net, { keyUsers: ['alice', 'mallory'] }, async (s) => {
      const m = s.daemon.mark();
      const r = await knock(net, 'open', ['22'], { host, key: s.site.keyPath('mallory'), wait: true, waitTimeout: 2 });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      // What the client observed comes first, then the guesses, most likely first.
      assert.match(r.stdout, /^tcp\/22 did not answer within 2 s\.\n {2}Observed: the knock left for .* and no error came back/m);
      assert.match(r.stdout, /Likely causes, most likely first:\n {2}- the knockspa daemon is not running/);
      assert.match(r.stdout, /SPA port is blocked[^]*clocks differ/);
      const rejected = await s.daemon.waitEvent('reject', {}, { since: m });
      assert.equal(rejected.reason, 'unknown-key');
      assert.deepEqual(await s.extra(4), [], 'nothing opened');
    }),
  );
});
