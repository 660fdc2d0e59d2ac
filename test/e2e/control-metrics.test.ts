/**
 * The admin's controls on a running daemon, with the real CLI, iptables and a real unix socket in
 * a network namespace: `knockspa grants` asks the daemon over its control socket, `grants close
 * --user` closes a live grant (port closed again, logged why "admin"), the socket is 0600 and
 * another user cannot use it, doctor reports when the listener last saw a packet; the Prometheus
 * endpoint is scraped during the run and its counters move.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tcpConnect, sendUdp } from '../lab/probes.js';
import { NODE } from '../lab/process.js';
import type { TestNet } from '../lab/netns.js';
import { DROP_TIMEOUT_MS, e2eNet, PROTECTED_PORT, withScenario } from '../support/e2e.js';
import { cliInServer, listGrants } from '../support/firewall.js';
import { junkPayloads } from '../support/junk.js';
import { knockOk, SPA_PORT } from '../support/knockspa.js';

const USERS = { alice: { ports: ['tcp/22'], max_duration: 300 }, bob: { ports: ['tcp/22'], max_duration: 300 } };
const METRICS = '127.0.0.1:9733';

/** GET /metrics from inside the server namespace. */
async function scrape(net: TestNet): Promise<string> {
  const r = await net.run(
    net.srv,
    [NODE, '-e', `fetch('http://${METRICS}/metrics').then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())))`],
    { timeoutMs: 10_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const [status, ...body] = r.stdout.split('\n');
  assert.equal(status, '200');
  return body.join('\n');
}

/** One sample's value (`name{labels} value`); undefined if absent. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

test('control socket and metrics', { timeout: 180_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;

  await t.test('grants via the socket, grants close --user, socket permissions, doctor, metrics that move', (t) =>
    withScenario(t, net, { users: USERS, extra: { metrics: { listen: METRICS } } }, async (s) => {
      const started = Date.now();
      const socket = join(s.site.stateDir, 'control.sock');
      const st = statSync(socket);
      assert.equal(st.isSocket(), true);
      assert.equal(st.mode & 0o777, 0o600, 'the control socket is 0600');
      assert.equal(st.uid, 0, "owned by the daemon's user (root)");

      // Another user cannot use it: the socket's own mode is the gate (the directory opened to let them try).
      chmodSync(s.site.stateDir, 0o711);
      const other = await net.run(
        net.srv,
        [
          'setpriv',
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          NODE,
          '-e',
          `require('node:net').createConnection(${JSON.stringify(socket)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(3); })`,
        ],
        { timeoutMs: 10_000 },
      );
      assert.equal(other.stdout.trim(), 'EACCES', `nobody is refused: ${other.stdout} ${other.stderr}`);
      chmodSync(s.site.stateDir, 0o700);

      const before = await scrape(net);
      assert.equal(sample(before, 'knockspa_live_grants'), 0);
      assert.equal(sample(before, 'knockspa_listener_last_packet_timestamp_seconds'), 0, 'no packet yet');

      let m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 200 });
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('bob'), duration: 100, allowIp: net.client2V4 });
      await s.daemon.proc.waitUntil(() => (s.daemon.events('open', m).length === 2 ? true : undefined), 5_000, 'two opens');
      // A packet that is no knock (the right shape, so the kernel screen lets it by): rejected, with a reason the metrics count.
      await sendUdp(net, net.cli, host, SPA_PORT, junkPayloads('unknown-key', 1, s.site.keyPath('alice'))[0] as Uint8Array);
      const reject = await s.daemon.waitEvent('reject', {}, { since: m });

      // `grants` with no --from asks the daemon.
      const listed = await cliInServer(net, ['grants', '--config', s.site.configPath]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`^alice\\s+${net.clientV4}\\s+tcp/22\\s+3m[12]\\ds$`, 'm'));
      assert.match(listed.stdout, new RegExp(`^bob\\s+${net.client2V4}\\s+tcp/22\\s+1m[34]\\ds$`, 'm'));
      assert.match(listed.stdout, /^2 live grants \(from the running daemon, \/.*\/control\.sock\)$/m);
      assert.deepEqual(
        (await listGrants(net, s.site.configPath)).map((g) => `${g.user} ${g.ip}`),
        [`alice ${net.clientV4}`, `bob ${net.client2V4}`],
      );

      const during = await scrape(net);
      assert.equal(sample(during, 'knockspa_knocks_accepted_total{user="alice",format="knockspa"}'), 1);
      assert.equal(sample(during, 'knockspa_knocks_accepted_total{user="bob",format="knockspa"}'), 1);
      assert.equal(sample(during, `knockspa_rejects_total{reason="${String(reject.reason)}"}`), 1, `reject ${String(reject.reason)}`);
      assert.equal(sample(during, 'knockspa_live_grants'), 2);
      assert.equal(sample(during, 'knockspa_activation_seconds_count'), 2);
      const last = sample(during, 'knockspa_listener_last_packet_timestamp_seconds') ?? 0;
      assert.ok(last * 1000 >= started - 1000 && last * 1000 <= Date.now() + 1000, `last packet at ${last}`);

      const doctor = await cliInServer(net, ['doctor', '--config', s.site.configPath]);
      assert.match(doctor.stdout, /^ok\s+the daemon \(pid \d+, udp [^,]+, 2 live grants\) last saw a packet \d+ s ago/m, doctor.stdout);

      // Close alice's grant through the daemon.
      assert.equal((await tcpConnect(net, net.cli, host, PROTECTED_PORT)).outcome, 'connected', 'open for alice');
      m = s.daemon.mark();
      const closed = await cliInServer(net, ['grants', 'close', '--config', s.site.configPath, '--user', 'alice']);
      assert.equal(closed.code, 0, closed.stderr);
      assert.equal(closed.stdout, `closed  alice  ${net.clientV4}  tcp/22\n1 grant closed\n`);
      await s.daemon.waitEvent('close', { why: 'admin', user: 'alice', ip: net.clientV4, port: 22 }, { since: m });
      const r = await tcpConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS });
      assert.equal(r.outcome, 'timeout', 'the port is dropped again for alice');
      assert.deepEqual(
        (await listGrants(net, s.site.configPath)).map((g) => g.user),
        ['bob'],
        "bob's grant is untouched",
      );
      assert.equal(sample(await scrape(net), 'knockspa_live_grants'), 1);

      const none = await cliInServer(net, ['grants', 'close', '--config', s.site.configPath, '--user', 'alice']);
      assert.equal(none.code, 0, none.stderr);
      assert.equal(none.stdout, '0 grants closed\n');
      const usage = await cliInServer(net, ['grants', 'close', '--config', s.site.configPath]);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /name the grants with --user, --ip and\/or --port/);

      // Killed: its socket stays behind, answering nobody; `grants` reads the firewall, `grants close` says no daemon.
      await s.daemon.stop('SIGKILL');
      assert.equal(existsSync(socket), true);
      const fallback = await cliInServer(net, ['grants', '--config', s.site.configPath]);
      assert.equal(fallback.code, 0, fallback.stderr);
      assert.match(fallback.stdout, new RegExp(`^bob\\s+${net.client2V4}\\s+tcp/22`, 'm'));
      assert.match(fallback.stdout, /^1 live grant \(from the firewall, chain KNOCKSPA/m);
      const noDaemon = await cliInServer(net, ['grants', 'close', '--config', s.site.configPath, '--user', 'bob']);
      assert.equal(noDaemon.code, 1);
      assert.match(noDaemon.stderr, /no daemon answers on .*control\.sock \(ECONNREFUSED\) \(is the daemon running\?/);
      const asked = await cliInServer(net, ['grants', '--config', s.site.configPath, '--from', 'daemon']);
      assert.equal(asked.code, 1);
      assert.match(asked.stderr, /no daemon answers/);

      // The next daemon replaces the dead socket; a clean stop removes it.
      await s.startAgain();
      assert.deepEqual(
        (await listGrants(net, s.site.configPath)).map((g) => g.user),
        ['bob'],
        'the restarted daemon answers, with the restored grant',
      );
      await s.daemon.stop();
      assert.equal(existsSync(socket), false, 'the socket is removed at stop');
    }),
  );

  await t.test('metrics off by default: nothing listens on the metrics port; a bad [metrics] names file and key', (t) =>
    withScenario(t, net, { users: USERS }, async (s) => {
      const r = await net.run(net.srv, [
        NODE,
        '-e',
        `fetch('http://${METRICS}/metrics').then(() => console.log('answered'), (e) => console.log(e.cause?.code ?? e.message))`,
      ]);
      assert.equal(r.stdout.trim(), 'ECONNREFUSED');
      await s.daemon.stop();
      s.site.writeConfig({ metrics: { listen: 'localhost:9733' } });
      const check = await cliInServer(net, ['server', '--config', s.site.configPath, '--check']);
      assert.equal(check.code, 2);
      assert.match(check.stderr, /server\.toml: metrics\.listen: expected an address and port like "127\.0\.0\.1:9733"/);
    }),
  );
});
