/**
 * The client names the real cause (#19 items 7 and 8), with the real daemon in namespaces:
 * a TCP reset after the knock means the port is open but nothing listens; an ICMP
 * port-unreachable to the knock means no daemon listens; a name that does not resolve, a network
 * with no route and an address where no host answers are said in words, not as raw errno text.
 * Each definite answer comes instead of the timeout's list of guesses (asserted on the words and,
 * for connect, on the knocks sent: one, not one per attempt).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { TestNet } from '../lab/netns.js';
import { NODE, type RunResult } from '../lab/process.js';
import { e2eNet, withScenario, type Scenario } from '../support/e2e.js';
import { CLI, knock, SPA_PORT } from '../support/knockspa.js';

/** Protected by a DROP after knockspa's jump, allowed to alice, and nothing listens on it. */
const DEAD_PORT = 2323;
/** TEST-NET-2: the client namespace has no route to it (no default route). */
const UNROUTED = '198.51.100.7';
/** On the lab link, but no host has it: neighbour discovery fails. */
const ABSENT = '198.18.0.99';

const USERS = { alice: { ports: ['tcp/22', `tcp/${DEAD_PORT}`], max_duration: 300, require_ip: false } };

/** The words of the timeout path: none may appear when the client observed a definite answer. */
const GUESSES = /did not answer within|Likely causes|clocks differ|still shut after|knocking again|gave up/;
/** Raw errno text as Node prints it (`getaddrinfo EAI_AGAIN host`, `send ENETUNREACH 1.2.3.4:5`, `connect ECONNREFUSED`). */
const RAW = /getaddrinfo|(send|connect) E[A-Z]+ \d/;

function re(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
}

function connectCmd(net: TestNet, host: string, port: number, key: string, extra: string[] = []): Promise<RunResult> {
  return net.run(net.cli, [NODE, CLI, 'connect', host, String(port), '--key', key, '--spa-port', String(SPA_PORT), ...extra], {
    timeoutMs: 40_000,
  });
}

async function dropDeadPort(net: TestNet): Promise<void> {
  // Appended, so after the jump to KNOCKSPA: only a grant lets the SYN through to the (absent) listener.
  for (const tool of ['iptables', 'ip6tables'])
    await net.runOk(net.srv, [tool, '-w', '-A', 'INPUT', '-p', 'tcp', '--dport', String(DEAD_PORT), '-j', 'DROP']);
}

test('the client names the real cause', { timeout: 240_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;
  const nothingListens = `the port is open for you but nothing listens on tcp/${DEAD_PORT} at ${host} (it answered with a TCP reset)`;
  const noDaemon = `no knockspa daemon is listening on udp/${SPA_PORT} at ${host} (it answered the knock with ICMP port-unreachable)`;

  await t.test('open --wait: the port opened but nothing listens', (t) =>
    withScenario(t, net, { users: USERS }, async (s) => {
      await dropDeadPort(net);
      const m = s.daemon.mark();
      const r = await knock(net, 'open', [String(DEAD_PORT)], { host, key: s.site.keyPath('alice'), wait: true, waitTimeout: 10 });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, re(nothingListens));
      assert.doesNotMatch(r.stdout, GUESSES, 'an observed reset, not the list of guesses');
      assert.doesNotMatch(r.stdout + r.stderr, RAW);
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
    }),
  );

  await t.test('connect: the port opened but nothing listens; one knock, no retries', (t) =>
    withScenario(t, net, { users: USERS }, async (s) => {
      await dropDeadPort(net);
      const m = s.daemon.mark();
      const r = await connectCmd(net, host, DEAD_PORT, s.site.keyPath('alice'), ['--attempts', '3', '--timeout', '3']);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, re(`knockspa: ${nothingListens}`));
      assert.doesNotMatch(r.stderr, GUESSES);
      assert.doesNotMatch(r.stderr, RAW);
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      assert.equal(s.daemon.events('knock', m).length, 1, 'a reset is an answer: no second knock');
    }),
  );

  await t.test('open --wait and connect: the daemon is stopped (udp mode)', (t) =>
    withScenario(t, net, { users: USERS }, async (s) => {
      await s.daemon.stop('SIGTERM');
      const key = s.site.keyPath('alice');
      const r = await knock(net, 'open', ['22'], { host, key, wait: true, waitTimeout: 10 });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, re(noDaemon));
      assert.doesNotMatch(r.stdout, GUESSES);
      const c = await connectCmd(net, host, 22, key, ['--attempts', '3', '--timeout', '3']);
      assert.equal(c.code, 1, c.stderr);
      assert.equal(c.stdout, '');
      assert.match(c.stderr, re(`knockspa: ${noDaemon}`));
      assert.doesNotMatch(c.stderr, GUESSES);
      assert.doesNotMatch(r.stdout + r.stderr + c.stderr, RAW);
    }),
  );

  await t.test('a host name that does not resolve, a network with no route, an address nobody has: in words', (t) =>
    withScenario(t, net, { users: USERS }, async (s: Scenario) => {
      const key = s.site.keyPath('alice');
      const m = s.daemon.mark();

      for (const wait of [false, true]) {
        const r = await knock(net, 'open', ['22'], { host: 'nosuch.invalid', key, wait });
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stderr, /^knockspa: cannot resolve nosuch\.invalid: /m);
        assert.doesNotMatch(r.stderr, RAW);
        assert.doesNotMatch(r.stdout, /^sent /m, 'nothing was sent');
      }
      const cr = await connectCmd(net, 'nosuch.invalid', 22, key);
      assert.notEqual(cr.code, 0);
      assert.match(cr.stderr, /^knockspa: cannot resolve nosuch\.invalid: /m);
      assert.doesNotMatch(cr.stderr, RAW);

      const noRoute = re(`knockspa: cannot reach ${UNROUTED}: this machine has no route to that network (ENETUNREACH)`);
      for (const wait of [false, true]) {
        const r = await knock(net, 'open', ['22'], { host: UNROUTED, key, wait });
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stderr, noRoute);
        assert.doesNotMatch(r.stderr, RAW);
      }
      const cn = await connectCmd(net, UNROUTED, 22, key);
      assert.equal(cn.code, 1, cn.stderr);
      assert.match(cn.stderr, noRoute);
      assert.doesNotMatch(cn.stderr, RAW);

      // A wrong --host on the link: the knock leaves, the probe's SYNs find no one (no ARP answer).
      const r = await knock(net, 'open', ['22'], { host: ABSENT, key, wait: true, waitTimeout: 15 });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, re(`cannot reach ${ABSENT}: host unreachable (EHOSTUNREACH)`));
      assert.doesNotMatch(r.stdout, GUESSES);
      assert.doesNotMatch(r.stdout + r.stderr, RAW);

      assert.deepEqual(s.daemon.events('knock', m), [], 'no knock reached the daemon');
    }),
  );
});
