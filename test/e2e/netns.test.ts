/**
 * Self-test of the lab's namespace harness (test/lab/): the namespaces exist and talk over
 * IPv4 and IPv6, a DROP rule really drops, the root namespace is left exactly as it was.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { harnessNamespaces, TestNet } from '../lab/netns.js';
import { canConnect, sendUdp, startTcpService, tcpConnect, udpReceiver } from '../lab/probes.js';
import { NODE } from '../lab/process.js';
import { NETNS_TOOLS, requires } from '../lab/requirements.js';
import { acceptRules, baseRules, baseRuleset, rootFirewallSnapshot } from '../lab/ruleset.js';

const PORT = 2222;

test('netns harness', { timeout: 120_000 }, async (t) => {
  if (!requires(t, ['netns', ...NETNS_TOOLS])) return;
  const rootBefore = rootFirewallSnapshot();
  const net = await TestNet.create();
  let destroyed = false;
  t.after(async () => {
    if (!destroyed) await net.destroy();
  });

  await t.test('namespaces and link exist, no default route', async () => {
    assert.ok(harnessNamespaces().includes(net.srv), `${net.srv} listed`);
    assert.ok(harnessNamespaces().includes(net.cli), `${net.cli} listed`);
    const srvAddrs = await net.runOk(net.srv, ['ip', '-o', 'addr', 'show', 'dev', net.srvIf]);
    assert.match(srvAddrs.stdout, /198\.18\.0\.1\/24/);
    assert.match(srvAddrs.stdout, /2001:db8:4b::1\/64/);
    const cliAddrs = await net.runOk(net.cli, ['ip', '-o', 'addr', 'show', 'dev', net.cliIf]);
    for (const a of ['198.18.0.2/24', '198.18.0.3/24', '2001:db8:4b::2/64', '2001:db8:4b::3/64'])
      assert.ok(cliAddrs.stdout.includes(a), `client has ${a}`);
    for (const out of [srvAddrs.stdout, cliAddrs.stdout]) {
      for (const line of out.split('\n').filter((l) => /inet6 2001:db8/.test(l)))
        assert.doesNotMatch(line, /tentative/, 'IPv6 addresses usable at once (nodad)');
    }
    for (const ns of [net.srv, net.cli]) {
      const r4 = await net.runOk(ns, ['ip', '-4', 'route', 'show', 'default']);
      const r6 = await net.runOk(ns, ['ip', '-6', 'route', 'show', 'default']);
      assert.equal(r4.stdout.trim() + r6.stdout.trim(), '', `${ns} has no default route`);
    }
    // The veth ends are not in the root namespace.
    const rootLinks = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
    assert.ok(!rootLinks.includes(net.srvIf) && !rootLinks.includes(net.cliIf), 'no veth end in the root namespace');
  });

  await t.test('TCP connects over IPv4 and IPv6, from both client addresses', async () => {
    await startTcpService(net, PORT);
    assert.equal((await tcpConnect(net, net.cli, net.serverV4, PORT)).outcome, 'connected');
    assert.equal((await tcpConnect(net, net.cli, net.serverV6, PORT)).outcome, 'connected');
    assert.equal((await tcpConnect(net, net.cli, net.serverV4, PORT, { localAddress: net.client2V4 })).outcome, 'connected');
    assert.equal((await tcpConnect(net, net.cli, net.serverV6, PORT, { localAddress: net.client2V6 })).outcome, 'connected');
    // A closed port is refused (RST), not timed out: the probe tells the two apart.
    assert.equal((await tcpConnect(net, net.cli, net.serverV4, PORT + 1)).outcome, 'refused');
  });

  await t.test('UDP datagrams arrive with the right source', async () => {
    const rx = await udpReceiver(net, net.srv, '0.0.0.0', 40000);
    await sendUdp(net, net.cli, net.serverV4, 40000, Uint8Array.from([1, 2, 3]), { localAddress: net.client2V4 });
    const got = await rx.waitForJson((l) => typeof l.hex === 'string', { timeoutMs: 3_000 });
    assert.deepEqual(got, { from: net.client2V4, hex: '010203' });
    const rx6 = await udpReceiver(net, net.srv, '::', 40001);
    await sendUdp(net, net.cli, net.serverV6, 40001, Uint8Array.from([0xcb]));
    const got6 = await rx6.waitForJson((l) => typeof l.hex === 'string', { timeoutMs: 3_000 });
    assert.deepEqual(got6, { from: net.clientV6, hex: 'cb' });
  });

  await t.test('the base ruleset drops the protected port (timeout, not refused), both families', async () => {
    const rules = await baseRuleset(net, PORT, { spaPort: 62201, udpMode: true });
    assert.deepEqual(rules.v4, baseRules(PORT, { spaPort: 62201, udpMode: true }, 4));
    assert.deepEqual(rules.v6, baseRules(PORT, { spaPort: 62201, udpMode: true }, 6));
    const t0 = Date.now();
    assert.equal((await tcpConnect(net, net.cli, net.serverV4, PORT, { timeoutMs: 600 })).outcome, 'timeout');
    assert.ok(Date.now() - t0 >= 550, 'the attempt waited for its timeout');
    assert.equal(await canConnect(net, net.cli, net.serverV6, PORT, { timeoutMs: 600 }), false);
    // Other ports are unaffected, and an inserted ACCEPT (what the daemon does) opens the way.
    assert.equal((await tcpConnect(net, net.cli, net.serverV4, PORT + 1)).outcome, 'refused');
    await net.runOk(net.srv, ['iptables', '-I', 'INPUT', '-s', net.clientV4, '-p', 'tcp', '--dport', String(PORT), '-j', 'ACCEPT']);
    assert.equal(await canConnect(net, net.cli, net.serverV4, PORT), true);
    assert.equal(
      await canConnect(net, net.cli, net.serverV4, PORT, { localAddress: net.client2V4, timeoutMs: 600 }),
      false,
      'only for that source',
    );
    assert.deepEqual(await acceptRules(net, 4), [`-A INPUT -s ${net.clientV4}/32 -p tcp -m tcp --dport ${PORT} -j ACCEPT`]);
    // pcap mode: the SPA port itself is dropped.
    const pcapRules = await baseRuleset(net, PORT, { spaPort: 62201, udpMode: false });
    assert.deepEqual(pcapRules.v4, baseRules(PORT, { spaPort: 62201, udpMode: false }, 4));
    assert.deepEqual(await acceptRules(net, 4), [], 're-applying the base ruleset resets INPUT');
  });

  await t.test('spawned processes are tracked and waited on', async () => {
    const p = net.spawnIn(net.srv, [
      NODE,
      '-e',
      'console.log(JSON.stringify({event:"start"})); console.log("plain"); setInterval(()=>{}, 1000)',
    ]);
    const line = await p.waitForJson((l) => l.event === 'start', { timeoutMs: 5_000 });
    assert.equal(line.event, 'start');
    await p.waitForLine((l) => l === 'plain');
    await assert.rejects(
      p.waitForJson((l) => l.event === 'never', { timeoutMs: 200 }),
      /timed out/,
    );
    const exit = await p.stop('SIGTERM', 1_000);
    assert.equal(exit.signal, 'SIGTERM');
  });

  await t.test('cleanup removes everything; the root namespace firewall is unchanged', async () => {
    const { srv, cli } = net;
    const keeper = net.spawnIn(srv, [NODE, '-e', 'setInterval(()=>{}, 1000)']);
    await net.destroy();
    destroyed = true;
    assert.ok(keeper.exited, 'processes killed');
    const left = harnessNamespaces();
    assert.ok(!left.includes(srv) && !left.includes(cli), `namespaces deleted (left: ${left.join(', ')})`);
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
    assert.ok(!/ ks-[0-9a-f]{6}-[sc][@:]/.test(links), 'no ks- link in the root namespace');
    const rootAfter = rootFirewallSnapshot();
    if (rootBefore === null || rootAfter === null) {
      t.diagnostic('iptables unusable in the root namespace: before/after comparison skipped');
    } else {
      assert.deepEqual(rootAfter, rootBefore, 'root namespace iptables -S / ip6tables -S unchanged');
    }
  });
});
