/**
 * nftables backend, with the real nft in the server namespace and no other ruleset: knockspa's
 * own table is the protection. Open/close through set elements; the table outlives the daemon;
 * SIGKILL with live grants (the kernel expires them with no daemon); the state directory lost;
 * the table deleted underneath; an admin's own set (nft_set); --remove-firewall.
 */
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { openSession, tcpConnect } from '../lab/probes.js';
import { sleep } from '../lab/process.js';
import { DROP_TIMEOUT_MS, e2eNet, PROTECTED_PORT, withScenario, type Scenario } from '../support/e2e.js';
import { cliInServer, hasNftTable, listGrants, nftElements, nftGrants, nftRuleset } from '../support/firewall.js';
import { knockOk } from '../support/knockspa.js';

const NFT = { base: 'none', extra: { firewall: 'nftables', sweep_interval: 2 } } as const;

async function dropped(s: Scenario, localAddress?: string): Promise<boolean> {
  const r = await tcpConnect(s.net, s.net.cli, s.net.serverV4, PROTECTED_PORT, {
    timeoutMs: DROP_TIMEOUT_MS,
    ...(localAddress === undefined ? {} : { localAddress }),
  });
  return r.outcome === 'timeout';
}

/** A live grant for the client, then knockspa's table deleted underneath the daemon; returns the log mark from just before the deletion. */
async function grantThenDeleteTable(s: Scenario): Promise<number> {
  const { net } = s;
  const opened = s.daemon.mark();
  await knockOk(net, 'open', ['22'], { host: net.serverV4, key: s.site.keyPath('alice'), duration: 120 });
  await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: opened });
  const m = s.daemon.mark();
  await net.runOk(net.srv, ['nft', 'delete', 'table', 'inet', 'knockspa']);
  return m;
}

test('nftables backend', { timeout: 240_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;

  await t.test('the table protects the port; a knock adds a timed element, a close removes it; the table stays after SIGTERM', (t) =>
    withScenario(t, net, NFT, async (s) => {
      const key = s.site.keyPath('alice');
      assert.equal(s.daemon.start.firewall, 'nftables');
      const ruleset = await nftRuleset(net);
      assert.match(ruleset, /table inet knockspa/);
      assert.match(ruleset, /type filter hook input priority filter - 10; policy accept;/);
      assert.match(ruleset, /meta l4proto \. th dport @protected drop/);
      assert.match(
        ruleset,
        /set protected \{\n\s+type inet_proto \. inet_service\n\s+elements = \{ tcp \. 22 \}/,
        'protects every port a user may open',
      );
      assert.equal(await dropped(s), true, "dropped before the knock, by knockspa's table alone");

      let m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 60 });
      const openEv = await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      const [element, ...more] = await nftElements(net, 4);
      assert.deepEqual(more, []);
      assert.equal(`${element?.ip} ${element?.proto}/${element?.port}`, `${net.clientV4} tcp/22`);
      assert.ok(
        (element?.expires ?? 0) > 50 && (element?.expires ?? 0) <= 60,
        `the kernel holds it for its duration (expires ${element?.expires})`,
      );
      assert.equal(
        element?.comment,
        `knockspa alice@${net.clientV4}/tcp/22 until ${Math.ceil(Date.parse(String(openEv.deadline)) / 1000)}`,
      );
      assert.equal((await tcpConnect(net, net.cli, host, PROTECTED_PORT)).outcome, 'connected');
      const session = await openSession(net, net.cli, host, PROTECTED_PORT);

      m = s.daemon.mark();
      await knockOk(net, 'close', ['22'], { host, key });
      await s.daemon.waitEvent('close', { why: 'knock', ip: net.clientV4 }, { since: m });
      assert.deepEqual(await nftGrants(net, 4), []);
      assert.equal(await dropped(s), true, 'dropped again');
      assert.match(await session.exchange('still here'), /still here/, 'a connection made during the grant survives its close');
      await session.close();

      await s.daemon.stop('SIGTERM');
      assert.equal(await hasNftTable(net), true, 'the table stays when the daemon stops');
      assert.equal(await dropped(s), true, 'so the port stays protected with no daemon running');
    }),
  );

  await t.test('SIGKILL with live grants: the kernel removes them at their deadline, no daemon needed', (t) =>
    withScenario(t, net, { ...NFT, address: '::' }, async (s) => {
      const key = s.site.keyPath('alice');
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 3 });
      await knockOk(net, 'open', ['22'], { host: net.serverV6, key, duration: 3 });
      const openEv = await s.daemon.waitEvent('open', { ip: net.clientV6 }, { since: m });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      await s.daemon.stop('SIGKILL');
      assert.deepEqual(await nftGrants(net, 4), [`${net.clientV4} tcp/22`]);
      assert.deepEqual(await nftGrants(net, 6), [`${net.clientV6} tcp/22`]);
      assert.equal(await dropped(s), false, 'open while the grant lives, daemon or not');

      await sleep(Math.max(0, Date.parse(String(openEv.deadline)) - Date.now() + 700));
      assert.deepEqual(await nftGrants(net, 4), [], 'IPv4 element gone at its deadline, with no daemon running');
      assert.deepEqual(await nftGrants(net, 6), [], 'IPv6 element gone too');
      assert.equal(await dropped(s), true);

      const d = await s.startAgain();
      const closes = await d.proc.waitUntil(
        () => {
          const c = d.events('close');
          return c.length >= 2 ? c : undefined;
        },
        5_000,
        'two closes',
      );
      assert.deepEqual(
        closes.map((c) => c.why),
        ['expired-while-down', 'expired-while-down'],
      );
    }),
  );

  await t.test('state directory deleted while a grant lives: the restarted daemon adopts it from the table until its deadline', (t) =>
    withScenario(t, net, NFT, async (s) => {
      const key = s.site.keyPath('alice');
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 6 });
      const openEv = await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      await s.daemon.stop('SIGKILL');
      rmSync(s.site.stateDir, { recursive: true, force: true });

      const d = await s.startAgain();
      assert.equal(d.start.grants, 1, 'adopted from the kernel (the comment names its user)');
      const [listed] = await listGrants(net, s.site.configPath);
      assert.equal(listed?.user, 'alice');
      assert.equal(listed?.ip, net.clientV4);
      assert.ok(Math.abs(Date.parse(String(listed?.deadline)) - Date.parse(String(openEv.deadline))) <= 1_500, 'with its deadline');
      const closeEv = await d.waitEvent('close', { ip: net.clientV4 }, { timeoutMs: 10_000 });
      assert.equal(closeEv.why, 'timeout');
      assert.deepEqual(await nftGrants(net, 4), [], 'no orphan outlives its deadline');
      assert.equal(await dropped(s), true);
    }),
  );

  await t.test("table deleted underneath, then a knock: logged with nft's stderr, the table recreated, every grant put back", (t) =>
    withScenario(t, net, { base: 'none', extra: { firewall: 'nftables', sweep_interval: 3600 } }, async (s) => {
      const key = s.site.keyPath('alice');
      const m = await grantThenDeleteTable(s);
      assert.equal(await dropped(s), false, 'with the table gone nothing protects the port: the daemon must notice');
      await knockOk(net, 'open', ['22'], { host, key, duration: 120, allowIp: net.client2V4 });
      await s.daemon.waitEvent('open', { ip: net.client2V4 }, { since: m });
      const [error] = s.daemon.events('firewall-error', m);
      assert.deepEqual(error?.argv, ['nft', '-f', '-']);
      assert.match(String(error?.stderr), /No such file or directory/, "nft's own stderr is logged");
      const [repair] = s.daemon.events('firewall-repair', m);
      assert.deepEqual(repair?.grants, [`alice ${net.clientV4} tcp/22`], 'the grant the table took with it is back');
      assert.equal(s.daemon.proc.exited, false, 'the daemon keeps running');
      assert.deepEqual(await nftGrants(net, 4), [`${net.clientV4} tcp/22`, `${net.client2V4} tcp/22`].sort());
      assert.match(await nftRuleset(net), /@protected drop/, 'protection back too');
      assert.equal(await dropped(s, net.clientV4), false);
      assert.equal(await dropped(s), false);
    }),
  );

  await t.test('table deleted underneath with no knock: the periodic sweep recreates it', (t) =>
    withScenario(t, net, NFT, async (s) => {
      const m = await grantThenDeleteTable(s);
      const repair = await s.daemon.waitEvent('firewall-repair', {}, { since: m, timeoutMs: 10_000 });
      assert.equal(repair.count, 1);
      assert.deepEqual(await nftGrants(net, 4), [`${net.clientV4} tcp/22`]);
      assert.match(await nftRuleset(net), /@protected drop/);
      assert.equal(await dropped(s, net.client2V4), true, 'others dropped again');
    }),
  );

  await t.test("nft_set: knockspa only fills the admin's set, referenced by the admin's own chain", (t) =>
    withScenario(t, net, { base: 'none', start: false, extra: { firewall: 'nftables', nft_set: 'inet filter knockspa' } }, async (s) => {
      const key = s.site.keyPath('alice');
      const admin = [
        'table inet filter {',
        '  set knockspa { type ipv4_addr . inet_proto . inet_service; flags timeout; }',
        '  chain input {',
        '    type filter hook input priority filter; policy accept;',
        '    ct state established,related accept',
        '    ip saddr . meta l4proto . th dport @knockspa accept',
        '    tcp dport 22 drop',
        '  }',
        '}',
      ].join('\n');
      await net.runOk(net.srv, ['nft', '-f', '-'], { input: `${admin}\n` });
      const check = await cliInServer(net, ['server', '--config', s.site.configPath, '--check']);
      assert.equal(check.code, 0, check.stderr);
      assert.match(check.stdout, /IPv4 grants go to set inet filter knockspa/);
      const d = await s.startAgain();
      assert.equal(await hasNftTable(net), false, "no table of knockspa's own");
      const m = d.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 60 });
      await d.waitEvent('open', { ip: net.clientV4 }, { since: m });
      assert.deepEqual(await nftGrants(net, 4, 'inet filter knockspa'), [`${net.clientV4} tcp/22`]);
      assert.equal(await dropped(s), false);
      await d.stop('SIGTERM');
      assert.deepEqual(await nftGrants(net, 4, 'inet filter knockspa'), [], 'closed on stop');
      assert.match(await nftRuleset(net), /set knockspa/, "the admin's set stays");
    }),
  );

  await t.test('nft_set of the wrong type: --check and start refuse it, naming the key and the type', (t) =>
    withScenario(t, net, { base: 'none', start: false, extra: { firewall: 'nftables', nft_set: 'inet filter knockspa' } }, async (s) => {
      await net.runOk(net.srv, ['nft', '-f', '-'], {
        input: 'table inet filter {\n  set knockspa { type ipv4_addr . inet_service; }\n}\n',
      });
      for (const args of [
        ['server', '--config', s.site.configPath, '--check'],
        ['server', '--config', s.site.configPath],
      ]) {
        const r = await cliInServer(net, args);
        assert.equal(r.code, 2, `${args.join(' ')}: exit 2\n${r.stderr}`);
        assert.match(
          r.stderr,
          /nft_set: set "inet filter knockspa" has type ipv4_addr \. inet_service; expected "ipv4_addr \. inet_proto \. inet_service"/,
        );
      }
    }),
  );

  await t.test('--remove-firewall deletes the table; protect widens what it drops', (t) =>
    withScenario(t, net, { base: 'none', extra: { firewall: 'nftables', protect: ['tcp/2222', 'udp/5353'] } }, async (s) => {
      assert.match(await nftRuleset(net), /elements = \{ tcp \. 22,\s+tcp \. 2222,\s+udp \. 5353 \}/);
      await s.daemon.stop('SIGTERM');
      const r = await cliInServer(net, ['server', '--config', s.site.configPath, '--remove-firewall']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /deleted table inet knockspa/);
      assert.equal(await hasNftTable(net), false);
      const again = await cliInServer(net, ['server', '--config', s.site.configPath, '--remove-firewall']);
      assert.match(again.stdout, /nothing to remove/);
    }),
  );

  await t.test("an iptables DROP on the port wins over knockspa's accept (why the admin's ruleset must let it through)", (t) =>
    withScenario(t, net, NFT, async (s) => {
      await net.runOk(net.srv, ['iptables', '-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'DROP']);
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 60 });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      assert.deepEqual(await nftGrants(net, 4), [`${net.clientV4} tcp/22`]);
      assert.equal(await dropped(s), true, 'granted in inet knockspa, dropped by iptables anyway');
    }),
  );
});
