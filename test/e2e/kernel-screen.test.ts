/**
 * The kernel screen of the SPA port (firewall/screen.ts), against the real nft and daemon: junk of
 * each kind that cannot be a knock is counted by the table's counters and never reaches the
 * daemon (no reject in its log); junk with a known key id still does; valid knocks open; a reload
 * with a new key updates the key id set; SIGTERM and --remove-firewall take the screen out;
 * kernel_screen = false leaves it out; in pcap mode the capture filter screens. The counters show in
 * the metrics (knockspa_screen_dropped_total) and in `knockspa grants --stats`.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { NODE } from '../lab/process.js';
import type { TestNet } from '../lab/netns.js';
import { e2eNet, withScenario, type Scenario } from '../support/e2e.js';
import { cliInServer, hasNftTable, nftGrants, nftRuleset } from '../support/firewall.js';
import { junkPayloads, type JunkKind } from '../support/junk.js';
import { eventually, keygen, knockOk, SPA_PORT } from '../support/knockspa.js';

const NFT = { base: 'none', extra: { firewall: 'nftables', sweep_interval: 2 } } as const;
const METRICS = '127.0.0.1:9733';

/** Sends each payload once, from one process in the client namespace, a little apart. */
const SEND_ALL = `
const s = require('node:dgram').createSocket(process.argv[1].includes(':') ? 'udp6' : 'udp4');
const [host, port, ...hex] = process.argv.slice(1);
(async () => {
  for (const h of hex) {
    await new Promise((r, j) => s.send(Buffer.from(h, 'hex'), Number(port), host, (e) => (e ? j(e) : r())));
    await new Promise((r) => setTimeout(r, 5));
  }
  s.close();
  console.log('sent', hex.length);
})();
`;

async function sendAll(net: TestNet, payloads: readonly Uint8Array[], host = net.serverV4): Promise<void> {
  const hex = payloads.map((p) => Buffer.from(p).toString('hex'));
  await net.runOk(net.cli, [NODE, '-e', SEND_ALL, host, String(SPA_PORT), ...hex], { timeoutMs: 15_000 });
}

/** The iptables screen's packets per reason, summed over iptables and ip6tables, read with the tools themselves. */
async function iptablesDrops(net: TestNet): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for (const tool of ['iptables', 'ip6tables']) {
    const r = await net.runOk(net.srv, [tool, '-w', '-v', '-S', 'KNOCKSPA']);
    for (const m of r.stdout.matchAll(/--comment "knockspa screen (\w+) [0-9a-f]+" -c (\d+) /g))
      found[m[1] as string] = (found[m[1] as string] ?? 0) + Number(m[2]);
  }
  return found;
}

async function iptablesScreenRules(net: TestNet, tool: 'iptables' | 'ip6tables'): Promise<string[]> {
  const r = await net.run(net.srv, [tool, '-w', '-S', 'KNOCKSPA']);
  return r.stdout.split('\n').filter((l) => l.includes('knockspa screen '));
}

type Counters = Record<'length' | 'magic' | 'key_id', number>;

/** The screen's counters, read with nft itself; null without them. */
async function counters(net: TestNet): Promise<Counters | null> {
  const r = await net.run(net.srv, ['nft', '-j', 'list', 'counters', 'table', 'inet', 'knockspa']);
  if (r.code !== 0) return null;
  const found: Record<string, number> = {};
  for (const item of (JSON.parse(r.stdout) as { nftables: { counter?: { name: string; packets: number } }[] }).nftables)
    if (item.counter !== undefined) found[item.counter.name] = item.counter.packets;
  const { screen_length: length, screen_magic: magic, screen_key_id: keyId } = found;
  if (length === undefined || magic === undefined || keyId === undefined) return null;
  return { length, magic, key_id: keyId };
}

/** The key ids in the screen's set, sorted hex. */
async function screenKeyIds(net: TestNet): Promise<string[]> {
  const r = await net.runOk(net.srv, ['nft', 'list', 'set', 'inet', 'knockspa', 'key_ids']);
  return [...r.stdout.matchAll(/0x([0-9a-f]+)/g)].map((m) => (m[1] as string).padStart(16, '0')).sort();
}

/** knockspa_screen_dropped_total per reason, scraped from the daemon inside the server namespace. */
async function scrapedDrops(net: TestNet): Promise<Record<string, number>> {
  const get = `fetch('http://${METRICS}/metrics').then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())))`;
  const r = await net.runOk(net.srv, [NODE, '-e', get], { timeoutMs: 10_000 });
  const [status, ...body] = r.stdout.split('\n');
  assert.equal(status, '200');
  const found: Record<string, number> = {};
  for (const m of body.join('\n').matchAll(/^knockspa_screen_dropped_total\{reason="(\w+)"\} (\d+)$/gm))
    found[m[1] as string] = Number(m[2]);
  return found;
}

/** `knockspa grants --stats --json` in the server namespace. */
async function stats(net: TestNet, configPath: string): Promise<unknown> {
  const r = await cliInServer(net, ['grants', '--stats', '--json', '--config', configPath]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function keyIdOf(keyFile: string): string {
  const m = /^key-id: ([0-9a-f]{16})$/m.exec(readFileSync(keyFile, 'utf8'));
  if (m === null) throw new Error(`no key id in ${keyFile}`);
  return m[1] as string;
}

/** Rejections the daemon logged since `m` (each on its own line, or summed up later). */
function rejects(s: Scenario, m: number): unknown[] {
  return [...s.daemon.events('reject', m), ...s.daemon.events('reject-suppressed', m)];
}

/** Junk of `kind` (3 packets) plus 3 packets of a wrong length; the kernel counts, the daemon sees nothing. */
async function screened(s: Scenario, kind: JunkKind, reason: keyof Counters): Promise<void> {
  const before = (await counters(s.net)) as Counters;
  const m = s.daemon.mark();
  await sendAll(s.net, junkPayloads(kind, 3, s.site.keyPath('alice')));
  await sendAll(s.net, [new Uint8Array(10), new Uint8Array(145), new Uint8Array(700)]);
  await new Promise((r) => setTimeout(r, 300));
  const after = (await counters(s.net)) as Counters;
  assert.equal(after[reason] - before[reason], 3, `${kind}: counted as ${reason}`);
  assert.equal(after.length - before.length, reason === 'length' ? 6 : 3, 'wrong lengths counted as length');
  assert.deepEqual(rejects(s, m), [], `${kind}: the daemon saw none of it`);
}

test('kernel screen', { timeout: 240_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;

  await t.test(
    'nftables: junk is counted and dropped in the kernel, a known key id with a bad tag still reaches the daemon, knocks open',
    (t) =>
      withScenario(t, net, { ...NFT, extra: { ...NFT.extra, metrics: { listen: METRICS } } }, async (s) => {
        const ruleset = await nftRuleset(net);
        assert.match(ruleset, /chain screen \{\n\s+type filter hook input priority -20; policy accept;/);
        assert.match(ruleset, new RegExp(`udp dport ${SPA_PORT} udp length != 154 counter name "screen_length" drop`));
        assert.deepEqual(await screenKeyIds(net), [keyIdOf(s.site.keyPath('alice'))]);
        assert.deepEqual(await counters(net), { length: 0, magic: 0, key_id: 0 });
        assert.deepEqual(await scrapedDrops(net), { length: 0, magic: 0, key_id: 0 }, 'in the metrics from the start');

        await screened(s, 'random', 'magic');
        await screened(s, 'unknown-key', 'key_id');
        assert.deepEqual(await scrapedDrops(net), { length: 6, magic: 3, key_id: 3 }, 'the metrics follow the kernel counters');
        assert.deepEqual(await stats(net, s.site.configPath), {
          screen: { length: 6, magic: 3, key_id: 3 },
          source: 'table inet knockspa',
        });
        const table = await cliInServer(net, ['grants', '--stats', '--config', s.site.configPath]);
        assert.equal(table.code, 0, table.stderr);
        assert.match(table.stdout, /^REASON +DROPPED\nlength +6\nmagic +3\nkey_id +3\ndropped by the kernel screen of the SPA port/);

        const before = (await counters(net)) as Counters;
        let m = s.daemon.mark();
        await sendAll(net, junkPayloads('bad-tag', 1, s.site.keyPath('alice')));
        const rej = await s.daemon.waitEvent('reject', {}, { since: m });
        assert.equal(rej.reason, 'bad-mac', 'a known key id passes the kernel; the daemon checks the tag');
        assert.deepEqual(await counters(net), before, 'not counted by the screen');

        m = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 30 });
        await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
        assert.deepEqual(await nftGrants(net, 4), [`${net.clientV4} tcp/22`]);
        assert.deepEqual(await counters(net), before, 'a valid knock is not counted');
        const doctor = await cliInServer(net, ['doctor', '--config', s.site.configPath]);
        assert.match(
          doctor.stdout,
          /ok {4}kernel screen in place, in sync with the keys \(1 key id\(s\)\); dropped: length 6, magic 3, key_id 3/,
        );
      }),
  );

  await t.test('a reload with a new key puts its id in the set; its knocks open; SIGTERM takes the screen out, the table stays', (t) =>
    withScenario(t, net, NFT, async (s) => {
      const bob = await keygen(s.site.keysDir, 'bob');
      s.site.writeConfig({ users: { ...s.site.config.users, bob: { ports: ['tcp/22'], max_duration: 300 } } });
      const stale = await cliInServer(net, ['doctor', '--config', s.site.configPath]);
      assert.match(stale.stdout, /fail {2}kernel screen out of sync with the keys: 1 key id\(s\) missing/, 'before the reload');
      const m = s.daemon.mark();
      s.daemon.proc.kill('SIGHUP');
      await s.daemon.waitEvent('screen-updated', {}, { since: m });
      assert.deepEqual(await screenKeyIds(net), [keyIdOf(s.site.keyPath('alice')), keyIdOf(bob)].sort());
      await knockOk(net, 'open', ['22'], { host, key: bob, duration: 30 });
      await s.daemon.waitEvent('open', { user: 'bob', ip: net.clientV4 }, { since: m });

      await s.daemon.stop('SIGTERM');
      const ruleset = await nftRuleset(net);
      assert.match(ruleset, /table inet knockspa/, 'the table stays (it protects the ports)');
      assert.doesNotMatch(ruleset, /chain screen|key_ids|screen_length/, 'the screen is gone');
      assert.deepEqual(await stats(net, s.site.configPath), {
        screen: null,
        why: 'kernel screen not in place (the daemon puts it in at start and takes it out at stop)',
      });
    }),
  );

  await t.test("knockspa's table deleted underneath: the sweep puts the screen back with it", (t) =>
    withScenario(t, net, NFT, async (s) => {
      await net.runOk(net.srv, ['nft', 'delete', 'table', 'inet', 'knockspa']);
      assert.ok(await eventually(async () => (await counters(net)) !== null, 8_000), 'the screen is back after a sweep');
      assert.deepEqual(await screenKeyIds(net), [keyIdOf(s.site.keyPath('alice'))]);
      await screened(s, 'unknown-key', 'key_id');
    }),
  );

  await t.test('--remove-firewall takes the screen out with the table', (t) =>
    withScenario(t, net, NFT, async (s) => {
      assert.notEqual(await counters(net), null);
      s.daemon.proc.kill('SIGKILL'); // no clean stop: the screen is still there
      await s.daemon.proc.done;
      assert.match(await nftRuleset(net), /chain screen/);
      const r = await cliInServer(net, ['server', '--config', s.site.configPath, '--remove-firewall']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await hasNftTable(net), false);
    }),
  );

  await t.test('kernel_screen = false: no screen, junk reaches the daemon', (t) =>
    withScenario(t, net, { ...NFT, extra: { ...NFT.extra, kernel_screen: false } }, async (s) => {
      assert.doesNotMatch(await nftRuleset(net), /chain screen|key_ids/);
      assert.deepEqual(await stats(net, s.site.configPath), { screen: null, why: 'no kernel screen: kernel_screen = false in the config' });
      const m = s.daemon.mark();
      await sendAll(net, junkPayloads('unknown-key', 1, s.site.keyPath('alice')));
      const rej = await s.daemon.waitEvent('reject', {}, { since: m });
      assert.equal(rej.reason, 'unknown-key');
    }),
  );

  await t.test(
    'iptables: u32 rules at the top of KNOCKSPA drop wrong lengths and first bytes, counted per reason; key ids reach the daemon; knocks open; stop takes them out',
    (t) =>
      withScenario(t, net, { address: '::', extra: { metrics: { listen: METRICS } } }, async (s) => {
        for (const tool of ['iptables', 'ip6tables'] as const) {
          const rules = await iptablesScreenRules(net, tool);
          assert.equal(rules.length, 2, `${tool}: length and magic`);
          assert.match(
            rules[0] as string,
            new RegExp(`^-A KNOCKSPA -p udp -m udp --dport ${SPA_PORT} .*-m u32 ! --u32 .*knockspa screen length`),
          );
        }
        const chain = (await net.runOk(net.srv, ['iptables', '-w', '-S', 'KNOCKSPA'])).stdout.split('\n');
        assert.ok(chain[1]?.includes('knockspa screen length'), 'the screen is at the top of the chain');
        assert.deepEqual(await iptablesDrops(net), { length: 0, magic: 0 });

        let m = s.daemon.mark();
        await sendAll(net, junkPayloads('random', 3, s.site.keyPath('alice')));
        await sendAll(net, [new Uint8Array(10), new Uint8Array(145), new Uint8Array(700)]);
        await sendAll(net, [...junkPayloads('random', 2, s.site.keyPath('alice')), new Uint8Array(147)], net.serverV6);
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(await iptablesDrops(net), { length: 4, magic: 5 }, 'counted per reason, IPv4 and IPv6');
        assert.deepEqual(rejects(s, m), [], 'the daemon saw none of it');
        assert.deepEqual(await stats(net, s.site.configPath), {
          screen: { length: 4, magic: 5, key_id: 0 },
          source: `chain KNOCKSPA (iptables and ip6tables), jumped to from INPUT position 1`,
        });
        const scraped = await scrapedDrops(net);
        assert.equal(scraped.length, 4);
        assert.equal(scraped.magic, 5);

        m = s.daemon.mark();
        await sendAll(net, junkPayloads('unknown-key', 1, s.site.keyPath('alice')));
        assert.equal(
          (await s.daemon.waitEvent('reject', {}, { since: m })).reason,
          'unknown-key',
          'key ids are the daemon’s with iptables',
        );
        m = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 30 });
        await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
        m = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host: net.serverV6, key: s.site.keyPath('alice'), duration: 30 });
        await s.daemon.waitEvent('open', { ip: net.clientV6 }, { since: m });
        assert.deepEqual(await iptablesDrops(net), { length: 4, magic: 5 }, 'valid knocks are not counted');
        const doctor = await cliInServer(net, ['doctor', '--config', s.site.configPath]);
        assert.match(
          doctor.stdout,
          /ok {4}kernel screen in place \(length and first byte; key ids are the daemon's to check\); dropped: length 4, magic 5/,
        );
        assert.doesNotMatch(doctor.stdout, /^fail/m, doctor.stdout);

        await s.daemon.stop('SIGTERM');
        await s.assertPristine('a clean stop takes the screen out with the chain');
      }),
  );

  await t.test('iptables: a reload with a new key leaves the rules and their counters; --remove-firewall takes them out', (t) =>
    withScenario(t, net, {}, async (s) => {
      await sendAll(net, [new Uint8Array(10), new Uint8Array(700)]);
      await new Promise((r) => setTimeout(r, 300));
      const rules = await iptablesScreenRules(net, 'iptables');
      assert.deepEqual(await iptablesDrops(net), { length: 2, magic: 0 });
      await keygen(s.site.keysDir, 'bob');
      s.site.writeConfig({ users: { ...s.site.config.users, bob: { ports: ['tcp/22'], max_duration: 300 } } });
      const m = s.daemon.mark();
      s.daemon.proc.kill('SIGHUP');
      await s.daemon.waitEvent('screen-updated', {}, { since: m }); // new key ids: the same iptables rules
      assert.deepEqual(await iptablesScreenRules(net, 'iptables'), rules, 'the same rules');
      assert.deepEqual(await iptablesDrops(net), { length: 2, magic: 0 }, 'their counters kept');
      s.daemon.proc.kill('SIGKILL'); // no clean stop: the screen is still there
      await s.daemon.proc.done;
      assert.equal((await iptablesScreenRules(net, 'iptables')).length, 2);
      const r = await cliInServer(net, ['server', '--config', s.site.configPath, '--remove-firewall']);
      assert.equal(r.code, 0, r.stderr);
      await s.assertPristine('--remove-firewall took the chain and its screen out');
    }),
  );

  await t.test('iptables with kernel_screen = false: no screen rules, junk reaches the daemon', (t) =>
    withScenario(t, net, { extra: { kernel_screen: false } }, async (s) => {
      assert.deepEqual(await iptablesScreenRules(net, 'iptables'), []);
      assert.deepEqual(await iptablesScreenRules(net, 'ip6tables'), []);
      const m = s.daemon.mark();
      await sendAll(net, junkPayloads('random', 1, s.site.keyPath('alice')));
      assert.equal((await s.daemon.waitEvent('reject', {}, { since: m })).reason, 'bad-magic');
    }),
  );

  await t.test('pcap mode: the capture filter carries length and magic; junk of the wrong shape never reaches the daemon', (t) =>
    withScenario(t, net, { listen: 'pcap' }, async (s) => {
      assert.match(String(s.daemon.start.listener), /udp\[4:2\] = 154 and udp\[8\] = 0xcb/);
      let m = s.daemon.mark();
      await sendAll(net, [...junkPayloads('random', 3, s.site.keyPath('alice')), new Uint8Array(10), new Uint8Array(700)]);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(rejects(s, m), [], 'random bytes and wrong lengths never reach the daemon');
      m = s.daemon.mark();
      await sendAll(net, junkPayloads('unknown-key', 1, s.site.keyPath('alice')));
      assert.equal((await s.daemon.waitEvent('reject', {}, { since: m })).reason, 'unknown-key', 'key ids are the daemon’s in pcap mode');
      m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 30 });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
    }),
  );
});
