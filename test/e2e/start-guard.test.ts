/**
 * What a daemon that cannot run leaves behind: nothing. A second daemon on the same state_dir
 * exits naming the first one's pid before it reads the state or touches the firewall; a daemon
 * whose listener fails after the firewall setup takes that setup out again (iptables chain and
 * jump; an nftables table it made).
 */
import { strict as assert } from 'node:assert';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { udpReceiver } from '../lab/probes.js';
import { NODE, type RunResult } from '../lab/process.js';
import { e2eNet, withScenario } from '../support/e2e.js';
import { CLI, SPA_PORT } from '../support/knockspa.js';

const show = (r: RunResult): string => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

test('daemon start guards', { timeout: 240_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const server = (config: string): Promise<RunResult> => net.run(net.srv, [NODE, CLI, 'server', '--config', config], { timeoutMs: 20_000 });
  const firewall = async (): Promise<string> =>
    [
      (await net.runOk(net.srv, ['iptables-save', '-t', 'filter'])).stdout,
      (await net.runOk(net.srv, ['ip6tables-save', '-t', 'filter'])).stdout,
      (await net.runOk(net.srv, ['nft', 'list', 'tables'])).stdout,
    ]
      .join('\n')
      .replace(/^#.*$/gm, '')
      .replace(/\[\d+:\d+\]/g, '');

  await t.test('a second daemon on the same state_dir: exit 1 naming the first pid; firewall and state untouched', (t) =>
    withScenario(t, net, {}, async (s) => {
      const stateDir = s.site.stateDir;
      const firstPid = Number(readFileSync(join(stateDir, 'knockspa.pid'), 'utf8'));
      assert.ok(Number.isInteger(firstPid) && firstPid > 0);
      const before = await firewall();
      const stamp = (): number | string => {
        try {
          return statSync(join(stateDir, 'state.json')).mtimeMs;
        } catch {
          return 'absent';
        }
      };
      const stateBefore = stamp();
      const r = await server(s.site.configPath);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, new RegExp(`another knockspa daemon \\(pid ${firstPid}\\) uses this state_dir`), show(r));
      assert.equal(await firewall(), before, 'the firewall is as the first daemon left it');
      assert.equal(stamp(), stateBefore, 'the state file is untouched');
      assert.equal(Number(readFileSync(join(stateDir, 'knockspa.pid'), 'utf8')), firstPid, 'the first keeps its lock');
      await s.assertBase('the first daemon still has its chain and jump');
    }),
  );

  await t.test('iptables: a daemon whose listener fails after setup leaves no chain and no jump', (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      const holder = await udpReceiver(net, net.srv, '0.0.0.0', SPA_PORT);
      t.after(() => holder.stop());
      const r = await server(s.site.configPath);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /EADDRINUSE/, show(r));
      await s.assertPristine('INPUT is exactly the base ruleset, no KNOCKSPA chain');
    }),
  );

  await t.test('nftables: a daemon whose listener fails after setup leaves no table it made', (t) =>
    withScenario(t, net, { base: 'none', start: false, extra: { firewall: 'nftables' } }, async (s) => {
      const holder = await udpReceiver(net, net.srv, '0.0.0.0', SPA_PORT);
      t.after(() => holder.stop());
      const r = await server(s.site.configPath);
      assert.equal(r.code, 1, show(r));
      const tables = (await net.runOk(net.srv, ['nft', 'list', 'tables'])).stdout;
      assert.doesNotMatch(tables, /table inet knockspa/, tables);
    }),
  );
});
