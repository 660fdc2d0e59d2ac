/**
 * ssh through `knockspa connect` with real OpenSSH (Debian's sshd and ssh) in the namespaces:
 * plain ssh to the protected port times out; ssh with ProxyCommand="knockspa connect %h %p" logs in
 * and runs a command; a session opened during a grant keeps working after the grant expired while
 * a new plain connect fails; dual stack knocks for the family the connection uses; the relay
 * half-closes (stdin's end is not the connection's end).
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { nsHosts, type TestNet } from '../lab/netns.js';
import { tcpConnect } from '../lab/probes.js';
import { NODE } from '../lab/process.js';
import { baseRuleset, iptablesRules } from '../lab/ruleset.js';
import { OPENSSH_NEEDS, sshArgv, sshEnv, startSshd } from '../lab/sshd.js';
import { DROP_TIMEOUT_MS, e2eNet, withLog } from '../support/e2e.js';
import { CLI, JUMP_RULE, knockspaChain, makeSite, SPA_PORT, startDaemon, type Daemon } from '../support/knockspa.js';

const SSH_PORT = 2222;
/** A service that answers after the client's FIN: only a relay that keeps reading after stdin's end sees it. */
const HALF_CLOSE_PORT = 2223;
const AFTER_EOF_SERVICE = `
const net = require('node:net');
const srv = net.createServer({ allowHalfOpen: true }, (s) => {
  let got = '';
  s.on('data', (d) => { got += d; });
  s.on('end', () => setTimeout(() => s.end('after your EOF I got: ' + got), 300));
});
srv.listen(Number(process.argv[1]), '::', () => console.log('listening'));
`;

interface SshScenario {
  readonly daemon: Daemon;
  readonly daemons: readonly Daemon[];
  readonly key: string;
  /** INPUT rules right after the base ruleset went in (IPv4). */
  readonly baseV4: readonly string[];
}

/** Base ruleset dropping the ssh port (and the half-close port), sshd, a dual-stack daemon letting alice open both. */
async function setUp(t: TestContext, net: TestNet): Promise<SshScenario> {
  await baseRuleset(net, SSH_PORT, { spaPort: SPA_PORT, udpMode: true });
  for (const tool of ['iptables', 'ip6tables'])
    await net.runOk(net.srv, [tool, '-w', '-A', 'INPUT', '-p', 'tcp', '--dport', String(HALF_CLOSE_PORT), '-j', 'DROP']);
  const baseV4 = await iptablesRules(net, net.srv, 4);
  const site = await makeSite(net, {
    address: '::',
    users: { alice: { ports: [`tcp/${SSH_PORT}`, `tcp/${HALF_CLOSE_PORT}`], max_duration: 300 } },
  });
  const daemon = await startDaemon(net, site.configPath);
  t.after(() => daemon.stop());
  return { daemon, daemons: [daemon], key: site.keyPath('alice'), baseV4 };
}

const proxy = (key: string, extra = ''): string => `${NODE} ${CLI} connect %h %p --key ${key}${extra}`;

test('ssh through knockspa connect (real OpenSSH)', { timeout: 300_000 }, async (t) => {
  const net = await e2eNet(t, OPENSSH_NEEDS);
  if (net === null) return;
  const sshd = await startSshd(net, SSH_PORT);
  const host = net.serverV4;

  await t.test('plain ssh times out; with ProxyCommand it logs in and runs a command', async (t) => {
    const s = await setUp(t, net);
    await withLog(s, async () => {
      const plain = await net.run(net.cli, sshArgv(sshd, host, {}, ['echo', 'never']), { env: sshEnv(), timeoutMs: 30_000 });
      assert.equal(plain.code, 255, `plain ssh fails\n${plain.stderr}`);
      assert.match(plain.stderr, /timed out/i);
      assert.doesNotMatch(plain.stdout, /never/);

      const m = s.daemon.mark();
      const r = await net.run(net.cli, sshArgv(sshd, host, { ProxyCommand: proxy(s.key) }, ['echo', 'knockspa-ok', '$((6*7))']), {
        env: sshEnv(),
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, `ssh via knockspa connect\nstdout: ${r.stdout}\nstderr: ${r.stderr}\nsshd: ${sshd.proc.stderr}`);
      assert.equal(r.stdout, 'knockspa-ok 42\n');
      assert.equal(r.stderr, '', 'nothing on stderr when the first knock works');
      const knock = await s.daemon.waitEvent('knock', { action: 'open', user: 'alice' }, { since: m });
      assert.deepEqual(knock.ports, [`tcp/${SSH_PORT}`], 'knocked for the ssh port only');
      assert.equal(knock.ip, net.clientV4);
      assert.equal(sshd.acceptedFrom().at(-1), net.clientV4);
    });
  });

  await t.test('a session opened during the grant outlives it; a new plain connect then fails', async (t) => {
    const s = await setUp(t, net);
    await withLog(s, async () => {
      const m = s.daemon.mark();
      const session = net.spawnIn(
        net.cli,
        sshArgv(sshd, host, { ProxyCommand: proxy(s.key, ' --duration 3') }, ['while read line; do echo "got $line"; done; echo bye']),
        { env: sshEnv() },
      );
      session.write('one\n');
      await session.waitForLine((l) => l === 'got one', 30_000);
      await s.daemon.waitEvent('open', { ip: net.clientV4, port: SSH_PORT }, { since: m });
      await s.daemon.waitEvent('close', { why: 'timeout', ip: net.clientV4, port: SSH_PORT }, { since: m, timeoutMs: 15_000 });
      assert.deepEqual(
        (await iptablesRules(net, net.srv, 4)).filter((r) => r !== JUMP_RULE),
        s.baseV4,
        'INPUT is the base ruleset (and the jump)',
      );
      assert.deepEqual(await knockspaChain(net, 4), [], 'the grant is gone from the firewall');

      session.write('two\n');
      await session.waitForLine((l) => l === 'got two', 10_000);
      const plain = await net.run(net.cli, sshArgv(sshd, host, {}, ['true']), { env: sshEnv(), timeoutMs: 30_000 });
      assert.equal(plain.code, 255, 'a new plain ssh fails');
      assert.equal(
        (await tcpConnect(net, net.cli, host, SSH_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome,
        'timeout',
        'a new TCP connect is dropped',
      );

      session.child.stdin?.end();
      const exit = await session.waitExit(15_000);
      assert.deepEqual(exit, { code: 0, signal: null }, session.describe());
      assert.equal(session.lines.at(-1), 'bye', 'the remote loop saw stdin end');
    });
  });

  await t.test('the README form: ProxyCommand knockspa connect %h %p, everything else from the profile', async (t) => {
    const s = await setUp(t, net);
    await withLog(s, async () => {
      const xdg = mkdtempSync(join(tmpdir(), `knockspa-xdg-${net.id}-`));
      net.onCleanup(() => rmSync(xdg, { recursive: true, force: true }));
      mkdirSync(join(xdg, 'knockspa'), { recursive: true });
      writeFileSync(
        join(xdg, 'knockspa', 'config.toml'),
        `[servers.myserver]\nhost = "${host}"\nspa_port = ${SPA_PORT}\nkey = "${s.key}"\nports = ["tcp/${SSH_PORT}"]\n`,
      );
      const m = s.daemon.mark();
      const r = await net.run(
        net.cli,
        sshArgv(sshd, 'myserver', { ProxyCommand: `${NODE} ${CLI} connect %h %p` }, ['echo', 'via-profile']),
        {
          env: sshEnv({ XDG_CONFIG_HOME: xdg, KNOCKSPA_KEY: '/nonexistent.key' }),
          timeoutMs: 60_000,
        },
      );
      assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.equal(r.stdout, 'via-profile\n');
      await s.daemon.waitEvent('knock', { action: 'open', user: 'alice', ip: net.clientV4 }, { since: m });
    });
  });

  await t.test('dual stack: the knock goes out over the family the connection uses', async (t) => {
    const s = await setUp(t, net);
    await withLog(s, async () => {
      nsHosts(net, net.cli, [`${net.serverV4} dual.test`, `${net.serverV6} dual.test`]);
      let m = s.daemon.mark();
      const r = await net.run(net.cli, sshArgv(sshd, 'dual.test', { ProxyCommand: proxy(s.key) }, ['echo', 'dual']), {
        env: sshEnv(),
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.equal(r.stdout, 'dual\n');
      const knock = await s.daemon.waitEvent('knock', { action: 'open' }, { since: m });
      const from = sshd.acceptedFrom().at(-1);
      assert.ok(from === net.clientV4 || from === net.clientV6, `logged in from ${from}`);
      assert.equal(knock.source, from, 'the knock came from the address the ssh connection came from');
      assert.equal(knock.ip, from, 'and opened the port for it');

      // An allow-ip of one family makes connect use that family, whatever the resolver prefers.
      for (const [allow, family] of [
        [net.clientV4, 4],
        [net.clientV6, 6],
      ] as const) {
        m = s.daemon.mark();
        const forced = await net.run(
          net.cli,
          sshArgv(sshd, 'dual.test', { ProxyCommand: proxy(s.key, ` --allow-ip ${allow}`) }, ['echo', `v${family}`]),
          { env: sshEnv(), timeoutMs: 60_000 },
        );
        assert.equal(forced.code, 0, `stdout: ${forced.stdout}\nstderr: ${forced.stderr}`);
        assert.equal(forced.stdout, `v${family}\n`);
        assert.equal(sshd.acceptedFrom().at(-1), allow, `connected over IPv${family}`);
        const k = await s.daemon.waitEvent('knock', { action: 'open' }, { since: m });
        assert.equal(k.ip, allow);
        assert.equal(String(k.source).includes(':') ? 6 : 4, family, 'knocked to the SPA address of that family');
      }
    });
  });

  await t.test('the relay half-closes: after stdin ends it still reads what the server sends', async (t) => {
    const s = await setUp(t, net);
    await withLog(s, async () => {
      const svc = net.spawnIn(net.srv, [NODE, '-e', AFTER_EOF_SERVICE, String(HALF_CLOSE_PORT)]);
      await svc.waitForLine((l) => l === 'listening', 10_000);
      const r = await net.run(net.cli, [NODE, CLI, 'connect', host, String(HALF_CLOSE_PORT), '--key', s.key, '--verbose'], {
        input: 'ping',
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'after your EOF I got: ping', "stdout is exactly the connection's bytes");
      assert.match(r.stderr, new RegExp(`knockspa: knocked udp/${SPA_PORT} at ${host.replace(/\./g, '\\.')} as alice \\(attempt 1\\)`));
      await svc.stop();
    });
  });

  await t.test('a knock that cannot work: retries with fresh packets, then gives up with the likely causes', async (t) => {
    const s = await setUp(t, net);
    await withLog(s, async () => {
      const m = s.daemon.mark();
      // alice may not open 2224: the daemon verifies each knock (a resent packet would be a replay), then refuses it.
      // The firewall drops 2224 (a port left to the kernel answers with a reset, which the client reports at once).
      for (const tool of ['iptables', 'ip6tables'])
        await net.runOk(net.srv, [tool, '-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '2224', '-j', 'DROP']);
      const r = await net.run(net.cli, [NODE, CLI, 'connect', host, '2224', '--key', s.key, '--attempts', '2', '--timeout', '1'], {
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /still shut after 1 s; knocking again \(2\/2\)/);
      assert.match(r.stderr, /did not open after 2 knocks/);
      assert.match(r.stderr, /clocks differ/);
      const refused = (): number => s.daemon.events('reject', m).filter((l) => l.reason === 'port-not-allowed').length;
      await s.daemon.proc.waitUntil(() => (refused() >= 2 ? true : undefined), 10_000, 'two port-not-allowed rejects');
      assert.equal(refused(), 2, 'two knocks, two fresh packets');
      assert.equal(s.daemon.events('reject', m).filter((l) => l.reason === 'replay').length, 0);
    });
  });
});
