/**
 * Two gateways, one identity, one Redis (issue 21): real redis-server in a hub namespace, two
 * daemons (same keys and server_id) in their own namespaces, a client in a fourth.
 * - a wrong Redis password is a config error at start;
 * - grants = "everywhere": a knock to A opens A and B (B's kernel rule, a TCP connection through B);
 * - A's captured packet replayed at B from another address is refused as a replay (Redis knew it);
 * - `knockspa grants close` on A (an admin close) closes the grant on B too, through the stream;
 * - B restarted while the grant is live gets it back from the stream;
 * - Redis stopped, on_redis_down = "local": the captured pre-outage packet is refused at B, fresh
 *   knocks are accepted at both; Redis back: both say so, and a grant made at A opens B again;
 * - B cut off from Redis while A accepts a knock: B applies it once the link is back;
 * - on_redis_down = "refuse": with Redis stopped a knock is refused as cluster-unavailable, and
 *   accepted again once Redis is back;
 * - grants = "here": a knock to A opens only A.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GATEWAY_A_V4, GATEWAY_B_V4, GROUP_CLIENT2_V4, GROUP_CLIENT_V4, GroupNet } from '../lab/group-net.js';
import { NODE, run, type RunResult } from '../lab/process.js';
import { requires } from '../lab/requirements.js';
import { gatewaySite, groupKeys, setCluster, startGateway, startRedis, type ClusterTable } from '../support/cluster.js';
import { CLI, grantRule, SPA_PORT, stripComment, type Daemon, type Site } from '../support/knockspa.js';

/** max_skew of the lab gateways (test/support/cluster.ts). */
const SKEW_MS = 6_000;

async function chain(net: GroupNet, ns: string): Promise<string[]> {
  const r = await net.run(ns, ['iptables', '-w', '-S', 'KNOCKSPA']);
  return r.code === 0
    ? r.stdout
        .split('\n')
        .filter((l) => l.startsWith('-A ') && !l.includes('knockspa screen ')) // the kernel screen's rules are no grants
        .map(stripComment)
    : [];
}

async function knockAt(net: GroupNet, host: string, key: string, port: string, dump?: string): Promise<RunResult> {
  const argv = [NODE, CLI, 'open', port, '--host', host, '--key', key, '--spa-port', String(SPA_PORT), '--duration', '120'];
  if (dump !== undefined) argv.push('--dump-packet', dump);
  const r = await run(net.ns.cli, argv, { timeoutMs: 20_000 });
  assert.equal(r.code, 0, `knock to ${host}: ${r.stderr}`);
  return r;
}

test('a group of gateways sharing one Redis', { timeout: 300_000 }, async (t) => {
  if (!requires(t, ['netns', 'iptables', 'iptables-restore', 'redis-server'])) return;
  const net = await GroupNet.create(t);
  const redis = await startRedis(net);
  const keys = await groupKeys(net, ['alice']);
  const key = join(keys, 'alice.key');
  for (const ns of [net.ns.gwa, net.ns.gwb]) {
    await net.tcpService(ns, 22);
    // Port 22 dropped unless knockspa's chain (jumped to first) accepts the source.
    await net.run(ns, ['iptables', '-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'DROP']);
  }
  const rule = grantRule(GROUP_CLIENT_V4, 'tcp', 22);
  const sites: { a?: Site; b?: Site } = {};
  const daemons: { a?: Daemon; b?: Daemon } = {};
  const restart = async (which: 'a' | 'b', cluster?: Partial<ClusterTable>): Promise<Daemon> => {
    await daemons[which]?.stop();
    const site = sites[which] as Site;
    if (cluster !== undefined) setCluster(site, { ...(site.config as { cluster: ClusterTable }).cluster, ...cluster });
    return (daemons[which] = await startGateway(net, which === 'a' ? net.ns.gwa : net.ns.gwb, site));
  };

  await t.test('a wrong Redis password is a config error at start', async () => {
    const site = gatewaySite(net, keys, 'a', {});
    writeFileSync(join(site.dir, 'redis.pass'), 'not-the-password\n', { mode: 0o600 });
    const proc = net.spawnIn(net.ns.gwa, [NODE, CLI, 'server', '--config', site.configPath]);
    const { code } = await proc.done;
    const output = `${proc.stderr}\n${proc.lines.join('\n')}`;
    assert.equal(code, 2, output);
    assert.match(output, /server\.toml: cluster\.password_file: credentials Redis accepts; Redis said: WRONGPASS/);
    assert.deepEqual(await chain(net, net.ns.gwa), [], 'nothing left in the firewall');
  });

  sites.a = gatewaySite(net, keys, 'a', { grants: 'everywhere', on_redis_down: 'local' });
  sites.b = gatewaySite(net, keys, 'b', { grants: 'everywhere', on_redis_down: 'local' });
  await restart('a');
  await restart('b');
  const dump = join(sites.a.dir, 'captured.bin');

  await t.test('everywhere: a knock to A opens A and B', async () => {
    const a = daemons.a as Daemon;
    const b = daemons.b as Daemon;
    const ma = a.mark();
    const mb = b.mark();
    await knockAt(net, GATEWAY_A_V4, key, '22', dump);
    await a.waitEvent('open', { ip: GROUP_CLIENT_V4, port: 22 }, { since: ma });
    const applied = await b.waitEvent('cluster-applied', { from: 'a', ip: GROUP_CLIENT_V4, port: 22 }, { since: mb });
    const opened = await b.waitEvent('open', { ip: GROUP_CLIENT_V4, port: 22 }, { since: mb });
    const aOpen = a.events('open', ma)[0] as Record<string, unknown>;
    assert.equal(opened.deadline, aOpen.deadline, 'B gives the grant the deadline A gave it');
    assert.equal(applied.kind, 'open');
    assert.deepEqual(await chain(net, net.ns.gwa), [rule]);
    assert.deepEqual(await chain(net, net.ns.gwb), [rule]);
    assert.equal(await net.connect(net.ns.cli, GATEWAY_B_V4, 22), 'connected', 'a connection that lands on B gets through');
  });

  await t.test("A's captured packet replayed at B from another address: replay", async () => {
    const b = daemons.b as Daemon;
    const m = b.mark();
    await net.sendUdp(net.ns.cli, GATEWAY_B_V4, SPA_PORT, readFileSync(dump), GROUP_CLIENT2_V4);
    await b.waitEvent('reject', { reason: 'replay', source: GROUP_CLIENT2_V4 }, { since: m });
    assert.deepEqual(b.events('knock', m), []);
    assert.deepEqual(await chain(net, net.ns.gwb), [rule], 'no rule for the replaying address');
    assert.equal(await net.connect(net.ns.cli, GATEWAY_B_V4, 22, 700, GROUP_CLIENT2_V4), 'timeout');
  });

  await t.test("grants close on A (admin) removes B's rule too", async () => {
    const a = daemons.a as Daemon;
    const b = daemons.b as Daemon;
    const rule2222 = grantRule(GROUP_CLIENT_V4, 'tcp', 2222);
    let ma = a.mark();
    let mb = b.mark();
    await knockAt(net, GATEWAY_A_V4, key, '2222');
    await a.waitEvent('open', { ip: GROUP_CLIENT_V4, port: 2222 }, { since: ma });
    await b.waitEvent('open', { ip: GROUP_CLIENT_V4, port: 2222 }, { since: mb });
    assert.deepEqual((await chain(net, net.ns.gwb)).sort(), [rule, rule2222].sort());
    ma = a.mark();
    mb = b.mark();
    const close = await run(net.ns.gwa, [NODE, CLI, 'grants', '--config', sites.a?.configPath as string, 'close', '--port', '2222']);
    assert.equal(close.code, 0, close.stderr);
    assert.match(close.stdout, new RegExp(`^closed  alice  ${GROUP_CLIENT_V4.replaceAll('.', '\\.')}  tcp/2222$`, 'm'));
    await a.waitEvent('close', { why: 'admin', ip: GROUP_CLIENT_V4, port: 2222 }, { since: ma });
    const applied = await b.waitEvent('cluster-applied', { from: 'a', kind: 'close', port: 2222 }, { since: mb });
    assert.equal(applied.why, 'admin');
    assert.equal(applied.took, true, 'B held the grant and closed it');
    await b.waitEvent('close', { why: 'admin', ip: GROUP_CLIENT_V4, port: 2222 }, { since: mb });
    assert.deepEqual(await chain(net, net.ns.gwa), [rule], "A's port 22 grant stays");
    assert.deepEqual(await chain(net, net.ns.gwb), [rule], "B's rule for 2222 is gone, port 22 stays");
  });

  await t.test("doctor checks the cluster; grants --from cluster lists the group's grants", async () => {
    const doctor = await run(net.ns.gwa, [NODE, CLI, 'doctor', '--config', sites.a?.configPath as string], { timeoutMs: 30_000 });
    assert.match(
      doctor.stdout,
      /^ok +cluster: connected to Redis at redis:\/\/198\.18\.1\.1:6379\/0, credentials accepted$/m,
      doctor.stdout,
    );
    assert.match(doctor.stdout, /^ok +cluster: Redis round trip \d+\.\d\d ms \(median of 5\), timeout_ms 200$/m, doctor.stdout);
    assert.match(
      doctor.stdout,
      new RegExp(`^ok +cluster: gateways of group "grp-${net.id}" seen in the last 30 s: a \\(\\d+ s ago\\), b \\(\\d+ s ago\\)$`, 'm'),
      doctor.stdout,
    );
    const grants = await run(net.ns.gwb, [NODE, CLI, 'grants', '--config', sites.b?.configPath as string, '--from', 'cluster', '--json']);
    assert.equal(grants.code, 0, grants.stderr);
    const rows = grants.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      rows.map(({ user, ip, proto, port }) => ({ user, ip, proto, port })),
      [{ user: 'alice', ip: GROUP_CLIENT_V4, proto: 'tcp', port: 22 }],
    );
  });

  await t.test('B restarted while the grant is live gets it back from the stream', async () => {
    await (daemons.b as Daemon).stop();
    assert.deepEqual(await chain(net, net.ns.gwb), [], 'B closed its grants at shutdown');
    const b = await restart('b');
    await b.waitEvent('cluster-applied', { from: 'a', ip: GROUP_CLIENT_V4, port: 22 });
    await b.waitEvent('open', { ip: GROUP_CLIENT_V4, port: 22 });
    assert.deepEqual(await chain(net, net.ns.gwb), [rule]);
  });

  await t.test('Redis stopped, local: pre-outage packet refused at B, fresh knocks accepted; Redis back', async () => {
    const a = daemons.a as Daemon;
    const b = daemons.b as Daemon;
    const captured = join(sites.a?.dir as string, 'pre-outage.bin');
    let ma = a.mark();
    await knockAt(net, GATEWAY_A_V4, key, '2222', captured);
    await a.waitEvent('open', { port: 2222 }, { since: ma });
    await b.waitEvent('open', { port: 2222 });
    await redis.stop();
    let mb = b.mark();
    await net.sendUdp(net.ns.cli, GATEWAY_B_V4, SPA_PORT, readFileSync(captured), GROUP_CLIENT2_V4);
    const refused = await b.waitEvent('reject', { source: GROUP_CLIENT2_V4 }, { since: mb });
    assert.equal(refused.reason, 'stale', JSON.stringify(refused));
    assert.equal(refused.note, 'stamped before the Redis outage began plus the window', 'refused for the outage, not the packet window');
    await b.waitEvent('cluster-down', {}, { since: mb });
    // After the outage's start plus the window (max_skew), fresh knocks pass on the local cache.
    await sleep(SKEW_MS + 500);
    mb = b.mark();
    await knockAt(net, GATEWAY_B_V4, key, '22');
    await b.waitEvent('knock', { action: 'open' }, { since: mb });
    ma = a.mark();
    await knockAt(net, GATEWAY_A_V4, key, '22');
    await a.waitEvent('cluster-down', {}, { since: ma });
    // A learned of the outage from this knock: stamped before that plus the window, it is refused too.
    await sleep(SKEW_MS + 500);
    ma = a.mark();
    await knockAt(net, GATEWAY_A_V4, key, '22');
    await a.waitEvent('knock', { action: 'open' }, { since: ma });
    ma = a.mark();
    mb = b.mark();
    await redis.start();
    await a.waitEvent('cluster-up', {}, { since: ma, timeoutMs: 20_000 });
    await b.waitEvent('cluster-up', {}, { since: mb, timeoutMs: 20_000 });
    ma = a.mark();
    mb = b.mark();
    await knockAt(net, GATEWAY_A_V4, key, '2222');
    await a.waitEvent('knock', { action: 'open' }, { since: ma });
    await b.waitEvent('cluster-applied', { from: 'a', port: 2222 }, { since: mb, timeoutMs: 20_000 });
  });

  await t.test('B cut off from Redis catches up on the grant A made meanwhile', async () => {
    const a = daemons.a as Daemon;
    const b = daemons.b as Daemon;
    await net.link('gwb', false);
    const mb = b.mark();
    const ma = a.mark();
    await knockAt(net, GATEWAY_A_V4, key, '2222');
    await a.waitEvent('knock', { action: 'open' }, { since: ma });
    await sleep(1_000);
    assert.deepEqual(b.events('cluster-applied', mb), [], 'nothing reaches B while it is cut off');
    await net.link('gwb', true);
    await b.waitEvent('cluster-applied', { from: 'a', port: 2222 }, { since: mb, timeoutMs: 30_000 });
  });

  await t.test('refuse: with Redis stopped a knock is refused as cluster-unavailable', async () => {
    const a = await restart('a', { on_redis_down: 'refuse' });
    await redis.stop();
    let m = a.mark();
    await knockAt(net, GATEWAY_A_V4, key, '22');
    await a.waitEvent('reject', { reason: 'cluster-unavailable', source: GROUP_CLIENT_V4 }, { since: m });
    assert.deepEqual(a.events('knock', m), []);
    m = a.mark();
    await redis.start();
    await a.waitEvent('cluster-up', {}, { since: m, timeoutMs: 20_000 });
    m = a.mark();
    await knockAt(net, GATEWAY_A_V4, key, '22');
    await a.waitEvent('knock', { action: 'open' }, { since: m });
  });

  await t.test('here: a knock to A opens only A', async () => {
    const a = await restart('a', { grants: 'here' });
    const b = await restart('b', { grants: 'here' });
    assert.deepEqual(await chain(net, net.ns.gwb), [], 'B starts with nothing (it does not read the stream)');
    const ma = a.mark();
    const mb = b.mark();
    await knockAt(net, GATEWAY_A_V4, key, '22');
    await a.waitEvent('open', { ip: GROUP_CLIENT_V4, port: 22 }, { since: ma });
    await sleep(1_500);
    assert.deepEqual(b.events('cluster-applied', mb), []);
    assert.deepEqual(await chain(net, net.ns.gwb), []);
    assert.deepEqual(await chain(net, net.ns.gwa), [rule]);
  });

  await (daemons.a as Daemon).stop();
  await (daemons.b as Daemon).stop();
});
