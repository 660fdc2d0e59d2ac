/**
 * `knockspa doctor` against real setups in the namespaces: a good server has no fail (exit 0); a
 * protected port open to all, a dropped SPA port, a key file others can read, a taken SPA port, a
 * bad config each give the finding and the fix; nftables rules are read too; the advice follows the
 * backend's capabilities. And the client side.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nsHosts, type TestNet } from '../lab/netns.js';
import { udpReceiver } from '../lab/probes.js';
import { NODE, type RunResult } from '../lab/process.js';
import { e2eNet, withScenario, type Scenario } from '../support/e2e.js';
import { CLI, SPA_PORT } from '../support/knockspa.js';

const FINDING = /^(ok {4}|warn {2}|fail {2})\S/;

async function doctor(net: TestNet, ns: string, args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult & { lines: string[] }> {
  const r = await net.run(ns, [NODE, CLI, 'doctor', ...args], {
    timeoutMs: 30_000,
    ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
  });
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  for (const l of lines) assert.match(l, FINDING, `every line is one finding: ${l}`);
  return { ...r, lines };
}

const serverDoctor = (s: Scenario): ReturnType<typeof doctor> => doctor(s.net, s.net.srv, ['--config', s.site.configPath]);
const has = (lines: string[], re: RegExp): boolean => lines.some((l) => re.test(l));
const show = (r: RunResult): string => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

test('knockspa doctor', { timeout: 300_000 }, async (t) => {
  const net = await e2eNet(t, ['ss']);
  if (net === null) return;

  await t.test('a good server: no fail, exit 0; the daemon holds the SPA port; tcp/22 dropped in both families', (t) =>
    withScenario(t, net, { address: '::' }, async (s) => {
      const r = await serverDoctor(s);
      assert.equal(r.code, 0, show(r));
      assert.ok(!has(r.lines, /^fail/), show(r));
      for (const want of [
        /^ok {4}running as root$/,
        /^ok {4}config .*server\.toml is valid \(1 user, server_id "srv\.test", listen udp, firewall iptables\)$/,
        /^ok {4}firewall iptables is present and usable$/,
        new RegExp(`^ok {4}the SPA port udp/${SPA_PORT} is held by the running knockspa daemon \\(pid \\d+\\)$`),
        /^ok {4}key file alice\.key of alice \(key id [0-9a-f]{16}, mode 600\)$/,
        /^ok {4}state_dir .* is the daemon's own and writable$/,
        /^ok {4}tcp\/22 is dropped for IPv4 until a knock opens it \(-A INPUT -p tcp -m tcp --dport 22 -j DROP\)$/,
        /^ok {4}tcp\/22 is dropped for IPv6 until a knock opens it/,
        /^ok {4}established IPv4 connections are accepted/,
        new RegExp(`^ok {4}the SPA port udp/${SPA_PORT} is reachable over IPv6$`),
      ])
        assert.ok(has(r.lines, want), `${want}\n${show(r)}`);
    }),
  );

  await t.test('a protected port open to all: fail with the rule; SPA port dropped in udp mode: fail', (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      await net.runOk(net.srv, ['iptables', '-w', '-I', 'INPUT', '3', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
      let r = await serverDoctor(s);
      assert.equal(r.code, 1, `a port open to all is a failure\n${show(r)}`);
      assert.ok(
        has(
          r.lines,
          /^fail  tcp\/22 is open to every IPv4 address \(-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\): knockspa protects nothing there  — make the base ruleset drop tcp\/22/,
        ),
        show(r),
      );
      assert.ok(has(r.lines, /^ok {4}tcp\/22 is dropped for IPv6/), 'IPv6 is still fine');
      assert.ok(has(r.lines, new RegExp(`^ok {4}the SPA port udp/${SPA_PORT} on 0\\.0\\.0\\.0 is free for the daemon$`)), show(r));

      await net.runOk(net.srv, ['iptables', '-w', '-D', 'INPUT', '-p', 'udp', '--dport', String(SPA_PORT), '-j', 'ACCEPT']);
      await net.runOk(net.srv, ['iptables', '-w', '-I', 'INPUT', '1', '-p', 'udp', '--dport', String(SPA_PORT), '-j', 'DROP']);
      r = await serverDoctor(s);
      assert.equal(r.code, 1, show(r));
      assert.ok(
        has(r.lines, new RegExp(`^fail  the SPA port udp/${SPA_PORT} is dropped for IPv4 .*: knocks never reach the daemon  — accept it`)),
        show(r),
      );
    }),
  );

  await t.test('no ESTABLISHED rule: warn that sessions die with their grant', (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      await net.runOk(net.srv, ['iptables', '-w', '-D', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
      const r = await serverDoctor(s);
      assert.ok(
        has(
          r.lines,
          /^warn  established IPv4 connections to tcp\/22 are dropped .*sessions die when their grant closes  — accept them first: iptables -I INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT$/,
        ),
        show(r),
      );
    }),
  );

  await t.test('a key file others can read: fail with the chmod, exit 1', (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      chmodSync(s.site.keyPath('alice'), 0o644);
      const r = await serverDoctor(s);
      assert.equal(r.code, 1, show(r));
      assert.ok(
        has(
          r.lines,
          new RegExp(
            `^fail  key file ${s.site.keyPath('alice')} has mode 644: others can read the secret  — chmod 600 ${s.site.keyPath('alice')}`,
          ),
        ),
        show(r),
      );
    }),
  );

  await t.test('a missing key, a stray key, a rotated key', (t) =>
    withScenario(
      t,
      net,
      { start: false, users: { alice: { ports: ['tcp/22'] }, bob: { ports: ['tcp/22'] } }, keyUsers: ['alice', 'carol'] },
      async (s) => {
        await net.runOk(net.srv, [NODE, CLI, 'keygen', '--user', 'alice', '--rotate', '--out', s.site.keysDir]);
        const r = await serverDoctor(s);
        assert.ok(has(r.lines, /^ok {4}key file alice\.key of alice /), show(r));
        assert.ok(has(r.lines, /^ok {4}key file alice\.\d{4}-\d{2}-\d{2}\.key of alice /), `the rotated key is checked too\n${show(r)}`);
        assert.equal(r.code, 1, show(r));
        assert.ok(
          has(r.lines, /^fail  user bob has no key file in .*  — knockspa keygen --user bob --server-id srv\.test --out /),
          show(r),
        );
        assert.ok(
          has(r.lines, /^warn  .*carol\.key belongs to no \[users\.NAME\] table, so it is not loaded  — delete it if that user is revoked/),
          show(r),
        );
      },
    ),
  );

  await t.test('the SPA port taken by another program: fail naming it', (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      const holder = await udpReceiver(net, net.srv, '0.0.0.0', SPA_PORT);
      t.after(() => holder.stop());
      const r = await serverDoctor(s);
      assert.equal(r.code, 1, show(r));
      assert.ok(
        has(r.lines, new RegExp(`^fail  the SPA port udp/${SPA_PORT} is taken by pid \\d+ \\(.*node.*\\)  — stop it, or set port =`)),
        show(r),
      );
    }),
  );

  await t.test('a bad config: fail naming the key, exit 1', (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      s.site.writeConfig({ max_skew: 0 });
      const r = await serverDoctor(s);
      assert.equal(r.code, 1, show(r));
      assert.ok(
        has(r.lines, /^fail  config .*server\.toml: max_skew: expected an integer from 1 to 3600, got 0  — fix what it names/),
        show(r),
      );
    }),
  );

  await t.test('nftables: a drop in an nft table protects; an nft accept before it does not', (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      // Only nftables protects tcp/22 now: iptables lets it through.
      await net.runOk(net.srv, ['iptables', '-w', '-D', 'INPUT', '-p', 'tcp', '-m', 'tcp', '--dport', '22', '-j', 'DROP']);
      const ruleset =
        'table inet t {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ct state established,related accept\n  tcp dport { 22, 2222 } drop\n }\n}\n';
      await net.runOk(net.srv, ['nft', '-f', '-'], { input: ruleset });
      let r = await serverDoctor(s);
      assert.ok(has(r.lines, /^ok {4}tcp\/22 is dropped for IPv4 until a knock opens it \(nft inet t input rule handle \d+\)$/), show(r));
      await net.runOk(net.srv, ['nft', 'insert', 'rule', 'inet', 't', 'input', 'tcp', 'dport', '22', 'accept']);
      r = await serverDoctor(s);
      assert.ok(has(r.lines, /^fail  tcp\/22 is open to every IPv4 address \(INPUT policy ACCEPT\)/), show(r));
      await net.runOk(net.srv, ['nft', 'delete', 'table', 'inet', 't']);
    }),
  );

  await t.test(
    "by the backend's capabilities: one that drops ports itself is judged as it will be set up; one that opens nothing is a warning",
    (t) =>
      withScenario(t, net, { base: 'none', start: false, extra: { firewall: 'nftables' } }, async (s) => {
        let r = await serverDoctor(s);
        // Its own table is judged as the daemon will set it up.
        for (const family of [4, 6])
          assert.ok(
            has(
              r.lines,
              new RegExp(
                `^ok {4}tcp/22 is dropped for IPv${family} until a knock opens it \\(nft inet knockspa input rule handle \\(added when the daemon starts\\)\\)$`,
              ),
            ),
            show(r),
          );
        assert.ok(has(r.lines, /^ok {4}a knock opens tcp\/22 for IPv4: no other table drops what knockspa grants$/), show(r));
        s.site.writeConfig({ firewall: 'dry-run' });
        r = await serverDoctor(s);
        assert.ok(
          has(
            r.lines,
            /^warn  firewall = "dry-run" manages nothing \(logs what it would do\): a knock opens nothing  — set firewall = "iptables" for real use$/,
          ),
          show(r),
        );
        assert.ok(has(r.lines, /^fail  tcp\/22 is open to every IPv4 address .* — make the base ruleset drop tcp\/22/), show(r));
      }),
  );

  await t.test(
    "nftables backend plus the iptables base ruleset's DROP: fail naming the rule; without it, knockspa's table judged exactly",
    (t) =>
      withScenario(t, net, { extra: { firewall: 'nftables' } }, async (s) => {
        let r = await serverDoctor(s);
        assert.equal(r.code, 1, show(r));
        for (const [family, tool] of [
          [4, 'iptables'],
          [6, 'ip6tables'],
        ] as const)
          assert.ok(
            has(
              r.lines,
              new RegExp(
                `^fail  a knock cannot open tcp/22 for IPv${family}: -A INPUT -p tcp -m tcp --dport 22 -j DROP drops it even for a granted address  — delete it \\(${tool} -D INPUT -p tcp -m tcp --dport 22 -j DROP\\) or accept tcp/22 before it; knockspa's own setup drops tcp/22`,
              ),
            ),
            show(r),
          );
        await net.runOk(net.srv, ['iptables', '-w', '-D', 'INPUT', '-p', 'tcp', '-m', 'tcp', '--dport', '22', '-j', 'DROP']);
        await net.runOk(net.srv, ['ip6tables', '-w', '-D', 'INPUT', '-p', 'tcp', '-m', 'tcp', '--dport', '22', '-j', 'DROP']);
        r = await serverDoctor(s);
        assert.equal(r.code, 0, show(r));
        assert.ok(!has(r.lines, /^(warn|fail) .*tcp\/22/), show(r));
        assert.ok(
          has(r.lines, /^ok {4}tcp\/22 is dropped for IPv4 until a knock opens it \(nft inet knockspa input rule handle \d+\)$/),
          show(r),
        );
        assert.ok(has(r.lines, /^ok {4}a knock opens tcp\/22 for IPv6: no other table drops what knockspa grants$/), show(r));
      }),
  );

  await t.test('iptables backend under an nftables chain with policy drop in another table: fail naming the chain', (t) =>
    withScenario(t, net, {}, async (s) => {
      const ruleset = `table inet admin {\n chain input {\n  type filter hook input priority 0; policy drop;\n  ct state established,related accept\n  iif lo accept\n  udp dport ${SPA_PORT} accept\n }\n}\n`;
      await net.runOk(net.srv, ['nft', '-f', '-'], { input: ruleset });
      try {
        const r = await serverDoctor(s);
        assert.equal(r.code, 1, show(r));
        assert.ok(
          has(
            r.lines,
            /^fail  a knock cannot open tcp\/22 for IPv4: inet admin input policy DROP drops it even for a granted address  — accept tcp\/22 in that chain, or set its policy to accept/,
          ),
          show(r),
        );
      } finally {
        await net.runOk(net.srv, ['nft', 'delete', 'table', 'inet', 'admin']);
      }
    }),
  );

  await t.test('as a non-root user with an unreadable keys dir: one finding per line, advice to run as root, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), `knockspa-doctor-${net.id}-`));
    net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    const keys = join(dir, 'keys');
    mkdirSync(keys, { mode: 0o700 });
    await net.runOk(net.srv, [NODE, CLI, 'keygen', '--user', 'alice', '--server-id', 'srv.test', '--out', keys]);
    const config = join(dir, 'server.toml');
    writeFileSync(
      config,
      `server_id = "srv.test"\nkeys_dir = "${keys}"\nstate_dir = "${join(dir, 'state')}"\nfirewall = "nftables"\n[users.alice]\nports = ["tcp/22"]\n`,
    );
    chmodSync(config, 0o644);
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    const r = await net.run(net.srv, [...nobody, NODE, CLI, 'doctor', '--config', config], { timeoutMs: 30_000 });
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    for (const l of lines) assert.match(l, FINDING, `every line is one finding: ${l}\n${show(r)}`);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stderr, '', show(r));
    assert.ok(
      has(lines, new RegExp(`^fail  key check: .*${keys}.*EACCES.*  — run it as root, as the daemon runs: sudo knockspa doctor$`)),
      show(r),
    );
    assert.ok(has(lines, /^fail  firewall nftables unusable: .*  — run it as root/), show(r));
    assert.ok(!has(lines, /apt-get install/), `no install advice for a tool that is there\n${show(r)}`);
  });

  await t.test('pcap mode: the capture works on the interface; a wrong interface fails', (t) =>
    withScenario(t, net, { listen: 'pcap', start: false }, async (s) => {
      let r = await serverDoctor(s);
      assert.ok(has(r.lines, new RegExp(`^ok {4}pcap can capture knocks on ${net.srvIf}$`)), show(r));
      assert.ok(!has(r.lines, /SPA port udp\/\d+ is (reachable|dropped)/), 'pcap mode sees knocks on a dropped port: no SPA-port verdict');
      s.site.writeConfig({ interface: 'nosuch0' });
      r = await serverDoctor(s);
      assert.equal(r.code, 1, show(r));
      assert.ok(has(r.lines, /^fail  cannot capture on interface "nosuch0": .*  — check interface = "nosuch0"/), show(r));
    }),
  );

  await t.test('--client: profiles, key files, host names', async () => {
    const dir = mkdtempSync(join(tmpdir(), `knockspa-doctor-${net.id}-`));
    net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const key = join(dir, 'alice.key');
    await net.runOk(net.cli, [NODE, CLI, 'keygen', '--user', 'alice', '--server-id', 'srv.test', '--out', dir]);
    nsHosts(net, net.cli, [`${net.serverV4} srv.test`]);
    mkdirSync(join(dir, 'knockspa'));
    const profiles = (text: string): void => writeFileSync(join(dir, 'knockspa', 'config.toml'), text);
    const env = { XDG_CONFIG_HOME: dir, KNOCKSPA_KEY: '' };
    profiles(`[servers.good]\nhost = "srv.test"\nkey = "${key}"\n[servers.lost]\nhost = "nowhere.invalid"\nkey = "${key}"\n`);

    let r = await doctor(net, net.cli, ['--client', 'good'], env);
    assert.equal(r.code, 0, show(r));
    assert.ok(has(r.lines, /^ok {4}profile file .*config\.toml is valid: good, lost$/), show(r));
    assert.ok(
      has(
        r.lines,
        new RegExp(`^ok {4}key file ${key} \\(profile good\\): user alice, server id "srv\\.test", key id [0-9a-f]{16}, mode 600$`),
      ),
      show(r),
    );
    assert.ok(
      has(r.lines, new RegExp(`^ok {4}host srv\\.test \\(profile good\\) resolves to ${net.serverV4.replace(/\./g, '\\.')}$`)),
      show(r),
    );

    r = await doctor(net, net.cli, ['--client'], env);
    assert.equal(r.code, 1, show(r));
    assert.ok(has(r.lines, /^fail  host nowhere\.invalid \(profile lost\) does not resolve \(\w+\)  — check the name/), show(r));

    chmodSync(key, 0o644);
    r = await doctor(net, net.cli, ['--client', '--key', key], env);
    assert.equal(r.code, 1, show(r));
    assert.ok(has(r.lines, new RegExp(`^fail  key file ${key} has mode 644: others can read the secret  — chmod 600 ${key}`)), show(r));

    profiles('[servers.good]\nhost = "srv.test"\nspa_port = "x"\n');
    r = await doctor(net, net.cli, ['--client'], env);
    assert.equal(r.code, 1, show(r));
    assert.ok(
      has(
        r.lines,
        /^fail  profile file .*config\.toml: servers\.good\.spa_port: expected an integer from 1 to 65535, got "x"  — fix the key it names/,
      ),
      show(r),
    );
  });
});
