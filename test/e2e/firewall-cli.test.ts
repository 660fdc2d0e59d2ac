/**
 * The admin's commands against the real tools: `knockspa server --check` validates config and
 * firewall access per backend and changes nothing; `knockspa grants` lists live grants (user,
 * address, port, time left) from the firewall or from the state file.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { firewallSnapshot } from '../lab/ruleset.js';
import { e2eNet, withScenario } from '../support/e2e.js';
import { cliInServer, hasNftTable } from '../support/firewall.js';
import { knockOk } from '../support/knockspa.js';

const USERS = { alice: { ports: ['tcp/22'], max_duration: 300 }, bob: { ports: ['tcp/22', 'udp/53'], max_duration: 300 } };

test('knockspa server --check and knockspa grants', { timeout: 120_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;

  await t.test('--check: ok per backend, naming what it checked, and nothing changes', (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      const before = await firewallSnapshot(net, net.srv);
      const ipt = await cliInServer(net, ['server', '--config', s.site.configPath, '--check']);
      assert.equal(ipt.code, 0, ipt.stderr);
      assert.match(ipt.stdout, /: ok \(1 user, firewall iptables/);
      assert.match(ipt.stdout, /^iptables: chain KNOCKSPA \(iptables and ip6tables\), jumped to from INPUT position 1$/m);
      assert.deepEqual(await firewallSnapshot(net, net.srv), before, 'iptables untouched');

      s.site.writeConfig({ firewall: 'nftables', protect: ['tcp/2222'] });
      const nft = await cliInServer(net, ['server', '--config', s.site.configPath, '--check']);
      assert.equal(nft.code, 0, nft.stderr);
      assert.match(
        nft.stdout,
        /nftables: table inet knockspa can be set up \(input chain at priority filter - 10, drops tcp\/22, tcp\/2222 unless granted\)/,
      );
      assert.equal(await hasNftTable(net), false, '--check created nothing');

      s.site.writeConfig({
        firewall: 'command',
        protect: undefined,
        firewall_command: { open: '/nonexistent/knock-open %IP%', close: '/bin/true' },
      });
      const cmd = await cliInServer(net, ['server', '--config', s.site.configPath, '--check']);
      assert.equal(cmd.code, 1);
      assert.match(cmd.stderr, /\/nonexistent\/knock-open .*not an executable file \(ENOENT\)/);

      s.site.writeConfig({ firewall: 'iptables', firewall_command: undefined, iptables_jump_position: 50 });
      const pos = await cliInServer(net, ['server', '--config', s.site.configPath, '--check']);
      assert.equal(pos.code, 2, pos.stderr);
      assert.match(pos.stderr, /iptables_jump_position: at most 5: iptables INPUT has 4 rules, got 50/);
    }),
  );

  await t.test('grants: user, address, port and time left, from the firewall and from the state file', (t) =>
    withScenario(t, net, { users: USERS }, async (s) => {
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host: net.serverV4, key: s.site.keyPath('alice'), duration: 200 });
      await knockOk(net, 'open', ['22', 'udp/53'], {
        host: net.serverV4,
        key: s.site.keyPath('bob'),
        duration: 100,
        allowIp: net.client2V4,
      });
      await s.daemon.proc.waitUntil(() => (s.daemon.events('open', m).length === 3 ? true : undefined), 5_000, 'three opens');

      for (const from of ['firewall', 'state']) {
        const r = await cliInServer(net, ['grants', '--config', s.site.configPath, '--from', from]);
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.trimEnd().split('\n');
        assert.match(lines[0] ?? '', /^USER\s+ADDRESS\s+PORT\s+LEFT$/);
        assert.match(lines[1] ?? '', new RegExp(`^alice\\s+${net.clientV4}\\s+tcp/22\\s+3m[12]\\ds$`));
        assert.match(lines[2] ?? '', new RegExp(`^bob\\s+${net.client2V4}\\s+tcp/22\\s+1m[34]\\ds$`));
        assert.match(lines[3] ?? '', new RegExp(`^bob\\s+${net.client2V4}\\s+udp/53\\s+1m[34]\\ds$`));
        assert.match(
          lines[4] ?? '',
          new RegExp(`^3 live grants \\(from the ${from === 'firewall' ? 'firewall, chain KNOCKSPA' : 'state file /'}`),
        );
      }
      const bad = await cliInServer(net, ['grants', '--config', s.site.configPath, '--from', 'memory']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--from: expected daemon, firewall, state or cluster, got "memory"/);
    }),
  );
});
