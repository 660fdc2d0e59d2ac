/**
 * A group through Sentinel (issue 21): a primary and a replica (Debian's redis-server) and one
 * Sentinel (the same binary, --sentinel) in the hub namespace; gateways A and B given the
 * Sentinel's address and the primary's name instead of redis = "...".
 * - no Sentinel answering at start: the gateway starts (in an outage: knocks refused) and keeps trying;
 * - a wrong password is a config error at start, as with redis = "...";
 * - a knock to A opens A and B (the stream through the primary Sentinel named); doctor connects;
 * - Sentinel fails over (SENTINEL FAILOVER: the replica promoted): a new knock to A still opens A
 *   and B, with the claims and the stream on the new primary, A's packet replayed at B is a
 *   replay, and doctor finds a primary.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GATEWAY_A_V4, GATEWAY_B_V4, GROUP_CLIENT2_V4, GROUP_CLIENT_V4, GroupNet, HUB_V4 } from '../lab/group-net.js';
import { NODE, run } from '../lab/process.js';
import { requires } from '../lab/requirements.js';
import {
  gatewaySite,
  groupKeys,
  REDIS_PASSWORD,
  REDIS_PORT,
  setCluster,
  startGateway,
  startRedis,
  type ClusterTable,
} from '../support/cluster.js';
import { CLI, SPA_PORT, type Site } from '../support/knockspa.js';

const REPLICA_PORT = 6380;
const SENTINEL_PORT = 26379;
const MASTER = 'lab-primary';

async function primaryPort(net: GroupNet): Promise<number> {
  const r = await net.run(net.ns.hub, [
    'redis-cli',
    '-h',
    HUB_V4,
    '-p',
    String(SENTINEL_PORT),
    'SENTINEL',
    'get-master-addr-by-name',
    MASTER,
  ]);
  return Number(r.stdout.trim().split('\n')[1]);
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

test('a group of gateways through Sentinel, and a failover', { timeout: 240_000 }, async (t) => {
  if (!requires(t, ['netns', 'iptables', 'iptables-restore', 'redis-server'])) return;
  const net = await GroupNet.create(t);
  const primary = await startRedis(net);
  const auth = ['--requirepass', REDIS_PASSWORD, '--masterauth', REDIS_PASSWORD];
  const replicaDir = join(primary.dir, 'replica');
  mkdirSync(replicaDir);
  const replica = net.spawnIn(net.ns.hub, [
    'redis-server',
    ...['--bind', HUB_V4, '--port', String(REPLICA_PORT), '--protected-mode', 'no', '--save', '', '--dir', replicaDir],
    ...['--appendonly', 'no', '--replicaof', HUB_V4, String(REDIS_PORT), ...auth],
  ]);
  await replica.waitForLine((l) => /MASTER <-> REPLICA sync: Finished/.test(l), 15_000);
  // Sentinel rewrites its config file: one of its own in the primary's temporary directory.
  const conf = join(primary.dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `bind ${HUB_V4}`,
      `port ${SENTINEL_PORT}`,
      'protected-mode no',
      `dir ${primary.dir}`,
      `sentinel monitor ${MASTER} ${HUB_V4} ${REDIS_PORT} 1`,
      `sentinel auth-pass ${MASTER} ${REDIS_PASSWORD}`,
      `sentinel down-after-milliseconds ${MASTER} 2000`,
      `sentinel failover-timeout ${MASTER} 10000`,
      '',
    ].join('\n'),
  );
  const sentinel = net.spawnIn(net.ns.hub, ['redis-server', conf, '--sentinel']);
  await sentinel.waitForLine((l) => /\+monitor master/.test(l), 15_000);
  await waitFor('the Sentinel to see the replica', async () => {
    const r = await net.run(net.ns.hub, ['redis-cli', '-h', HUB_V4, '-p', String(SENTINEL_PORT), 'SENTINEL', 'replicas', MASTER]);
    return r.stdout.includes(String(REPLICA_PORT));
  });

  const keys = await groupKeys(net, ['alice']);
  const key = join(keys, 'alice.key');
  for (const ns of [net.ns.gwa, net.ns.gwb]) {
    await net.tcpService(ns, 22);
    await net.run(ns, ['iptables', '-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'DROP']);
  }
  const knock = async (port: string, dump: string): Promise<void> => {
    const argv = [NODE, CLI, 'open', port, '--host', GATEWAY_A_V4, '--key', key, '--spa-port', String(SPA_PORT), '--duration', '120'];
    const r = await run(net.ns.cli, [...argv, '--dump-packet', dump], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
  };
  const sentinelSite = (gateway: string): Site => {
    const site = gatewaySite(net, keys, gateway, {});
    const { redis: _, ...cluster } = (site.config as { cluster: Record<string, unknown> }).cluster;
    setCluster(site, { ...cluster, sentinels: [`${HUB_V4}:${SENTINEL_PORT}`], sentinel_name: MASTER, timeout_ms: 500 });
    return site;
  };

  await t.test('no Sentinel answering at start: the gateway starts in an outage and keeps trying', async () => {
    const site = sentinelSite('a');
    setCluster(site, { ...(site.config as { cluster: ClusterTable }).cluster, sentinels: [`${HUB_V4}:${SENTINEL_PORT + 11}`] });
    const gw = await startGateway(net, net.ns.gwa, site);
    try {
      await gw.waitEvent('cluster-unreachable', {}, { since: 0 });
      // node-redis gives up its first connect after its rediscovery attempts (~16 s); the gateway then starts over.
      await sleep(20_000);
      assert.equal(gw.proc.exited, false, 'still running');
      const m = gw.mark();
      await knock('22', join(primary.dir, 'refused.bin'));
      await gw.waitEvent('reject', { reason: 'cluster-unavailable' }, { since: m });
    } finally {
      await gw.stop();
    }
  });

  await t.test('through Sentinel, a wrong password is a config error at start', async () => {
    const site = sentinelSite('a');
    writeFileSync(join(site.dir, 'redis.pass'), 'not-the-password\n', { mode: 0o600 });
    const proc = net.spawnIn(net.ns.gwa, [NODE, CLI, 'server', '--config', site.configPath]);
    const { code } = await proc.done;
    const output = `${proc.stderr}\n${proc.lines.join('\n')}`;
    assert.equal(code, 2, output);
    assert.match(
      output,
      /server\.toml: cluster\.password_file: credentials Redis accepts; Redis said: (Master Client \(198\.18\.1\.1:6379\): )?WRONGPASS/,
    );
  });

  const siteA = sentinelSite('a');
  const a = await startGateway(net, net.ns.gwa, siteA);
  const b = await startGateway(net, net.ns.gwb, sentinelSite('b'));
  const doctor = async (): Promise<string> =>
    (await run(net.ns.gwa, [NODE, CLI, 'doctor', '--config', siteA.configPath], { timeoutMs: 30_000 })).stdout;
  t.after(async () => {
    await a.stop();
    await b.stop();
    await sentinel.stop('SIGTERM', 5_000);
    await replica.stop('SIGTERM', 5_000);
  });

  await t.test('through Sentinel: a knock to A opens A and B', async () => {
    assert.equal(a.start.event, 'start');
    const [ma, mb] = [a.mark(), b.mark()];
    await knock('22', join(primary.dir, 'first.bin'));
    await a.waitEvent('open', { ip: GROUP_CLIENT_V4, port: 22 }, { since: ma });
    await b.waitEvent('cluster-applied', { from: 'a', ip: GROUP_CLIENT_V4, port: 22 }, { since: mb });
    await b.waitEvent('open', { ip: GROUP_CLIENT_V4, port: 22 }, { since: mb });
    assert.equal(await net.connect(net.ns.cli, GATEWAY_B_V4, 22), 'connected');
    const out = await doctor();
    assert.match(
      out,
      new RegExp(`^ok +cluster: connected to Redis at sentinel://198\\.18\\.1\\.1:${SENTINEL_PORT}/${MASTER}, credentials accepted$`, 'm'),
      out,
    );
    assert.doesNotMatch(out, /cluster: .* is a /, out);
  });

  await t.test('after a failover (the replica promoted) knocks still work and replays are still refused', async () => {
    assert.equal(await primaryPort(net), REDIS_PORT);
    const r = await net.run(net.ns.hub, ['redis-cli', '-h', HUB_V4, '-p', String(SENTINEL_PORT), 'SENTINEL', 'FAILOVER', MASTER]);
    assert.match(r.stdout, /OK/, r.stderr);
    await waitFor('the replica to be the primary', async () => (await primaryPort(net)) === REPLICA_PORT);
    const dump = join(primary.dir, 'second.bin');
    // The gateways follow the switch on their own; a knock refused while they do is retried.
    await waitFor(
      'a knock to A to open A and B after the failover',
      async () => {
        const [ma, mb] = [a.mark(), b.mark()];
        await knock('2222', dump);
        try {
          await a.waitEvent('open', { ip: GROUP_CLIENT_V4, port: 2222 }, { since: ma, timeoutMs: 2_000 });
        } catch {
          return false;
        }
        await b.waitEvent('open', { ip: GROUP_CLIENT_V4, port: 2222 }, { since: mb });
        return true;
      },
      40_000,
    );
    const role = await net.run(net.ns.hub, [
      'redis-cli',
      '-h',
      HUB_V4,
      '-p',
      String(REPLICA_PORT),
      '-a',
      REDIS_PASSWORD,
      '--no-auth-warning',
      'ROLE',
    ]);
    assert.match(role.stdout, /^master/, 'the promoted replica is the primary the claims went to');
    const m = b.mark();
    await net.sendUdp(net.ns.cli, GATEWAY_B_V4, SPA_PORT, readFileSync(dump), GROUP_CLIENT2_V4);
    await b.waitEvent('reject', { reason: 'replay', source: GROUP_CLIENT2_V4 }, { since: m });
    const out = await doctor();
    assert.match(out, /^ok +cluster: connected to Redis at sentinel:/m, out);
    assert.doesNotMatch(out, /cluster: .* is a /, out);
  });
});
