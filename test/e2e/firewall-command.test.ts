/**
 * command backend (knockd-style templates) driving the real iptables in the server namespace:
 * open/close run the templates with the values filled in word by word; an extension runs nothing;
 * a tool that goes missing or fails is logged (with its stderr), the daemon keeps running, and no
 * grant is reported open that is not.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { canConnect } from '../lab/probes.js';
import { e2eNet, PROTECTED_PORT, withScenario, type Scenario } from '../support/e2e.js';
import { listGrants } from '../support/firewall.js';
import { knockOk } from '../support/knockspa.js';

const RULE = (ip: string): string =>
  `-A INPUT -s ${ip}/32 -p tcp -m tcp --dport 22 -m comment --comment "knockspa-command alice" -j ACCEPT`;

/** A site whose templates call `tool` (a wrapper around the real iptables in the site directory). */
function wrapper(s: Scenario): string {
  const tool = join(s.site.dir, 'fw');
  writeFileSync(tool, '#!/bin/sh\nexec /usr/sbin/iptables "$@"\n');
  chmodSync(tool, 0o755);
  return tool;
}

test('command backend', { timeout: 120_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;

  await t.test('templates open and close; an extension runs nothing; a missing tool is logged and nothing counts open', (t) =>
    withScenario(t, net, { start: false, extra: { firewall: 'command' } }, async (s) => {
      const tool = wrapper(s);
      const args = `-w %OP% INPUT -s %IP% -p %PROTO% --dport %PORT% -m comment --comment 'knockspa-command %USER%' -j ACCEPT`;
      s.site.writeConfig({
        firewall_command: { open: `${tool} ${args.replace('%OP%', '-I')}`, close: `${tool} ${args.replace('%OP%', '-D')}` },
      });
      const d = await s.startAgain();
      assert.equal(d.start.firewall, 'command');
      const key = s.site.keyPath('alice');

      let m = d.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 60 });
      await d.waitEvent('open', { ip: net.clientV4 }, { since: m });
      assert.deepEqual(await s.extra(4), [RULE(net.clientV4)]);
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT), true);
      m = d.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 120 });
      await d.waitEvent('open', { ip: net.clientV4, extended: true }, { since: m });
      assert.deepEqual(await s.extra(4), [RULE(net.clientV4)], 'extended, not added twice');
      m = d.mark();
      await knockOk(net, 'close', ['22'], { host, key });
      await d.waitEvent('close', { why: 'knock' }, { since: m });
      await s.assertBase('the close template took it out');

      rmSync(tool);
      m = d.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 60 });
      const error = await d.waitEvent('firewall-error', { op: 'open' }, { since: m });
      assert.match(String(error.stderr), /ENOENT/, 'the missing tool is named in the log');
      await d.waitEvent('firewall-error', { op: 'setup' }, { since: m });
      assert.equal(d.events('open', m).length, 0, 'not reported open');
      assert.equal(d.proc.exited, false, 'the daemon keeps running');
      assert.deepEqual(await listGrants(net, s.site.configPath), [], 'knockspa grants (state file) shows nothing open');
      await s.assertBase();

      wrapper(s);
      m = d.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 60 });
      await d.waitEvent('open', { ip: net.clientV4 }, { since: m });
      assert.deepEqual(await s.extra(4), [RULE(net.clientV4)], 'works again once the tool is back');
      assert.deepEqual(
        (await listGrants(net, s.site.configPath)).map((g) => g.ip),
        [net.clientV4],
      );
    }),
  );

  await t.test('a failing command is logged with its stderr and exit code; the grant is not open', (t) =>
    withScenario(t, net, { start: false, extra: { firewall: 'command' } }, async (s) => {
      s.site.writeConfig({
        firewall_command: {
          open: '/usr/sbin/iptables -w -I NOSUCHCHAIN -s %IP% -j ACCEPT',
          close: '/usr/sbin/iptables -w -D NOSUCHCHAIN -s %IP% -j ACCEPT',
        },
      });
      const d = await s.startAgain();
      const m = d.mark();
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice') });
      const error = await d.waitEvent('firewall-error', { op: 'open' }, { since: m });
      assert.deepEqual(error.argv, ['/usr/sbin/iptables', '-w', '-I', 'NOSUCHCHAIN', '-s', net.clientV4, '-j', 'ACCEPT']);
      assert.match(String(error.stderr), /No chain\/target\/match by that name/);
      assert.equal(error.exitCode, 1);
      assert.equal(d.events('open', m).length, 0);
      assert.equal(d.proc.exited, false);
      await s.assertBase();
    }),
  );
});
