/**
 * The iptables backend on iptables' legacy variant (the daemon runs `iptables` from the system
 * directories, which Debian links through /etc/alternatives; here, in the process's own mount
 * namespace (ip netns exec gives it one), a directory of links to the *-legacy tools is mounted over
 * /etc/alternatives, as `update-alternatives --set` would do for the whole machine): grants go in and out of the legacy
 * tables, and the iptables-restore kept started ahead of need holds no xtables lock while it waits,
 * so the admin's own `iptables -w` commands never wait for the next knock. Then the whole daemon on
 * it: a knock opens the port in the legacy tables (none in nf_tables), a close knock shuts it.
 */
import { strict as assert } from 'node:assert';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import type { TestNet } from '../lab/netns.js';
import { tcpConnect } from '../lab/probes.js';
import { NODE } from '../lab/process.js';
import type { Need } from '../lab/requirements.js';
import { DROP_TIMEOUT_MS, e2eNet, PROTECTED_PORT, service } from '../support/e2e.js';
import { grantRule, knockOk, makeSite, startDaemon, stripComment } from '../support/knockspa.js';

const DRIVER = resolve(dirname(fileURLToPath(import.meta.url)), '../support/iptables-driver.js');
const LEGACY = {
  iptables: 'iptables-legacy',
  ip6tables: 'ip6tables-legacy',
  'iptables-restore': 'iptables-legacy-restore',
  'ip6tables-restore': 'ip6tables-legacy-restore',
} as const;
/** The legacy tools, and iptables-nft to look at the nf_tables side. */
const LEGACY_NEEDS: readonly Need[] = [...Object.values(LEGACY), 'iptables-nft'];
const GRANT =
  '-A KNOCKSPA -s 198.18.0.2/32 -p tcp -m tcp --dport 22 -m comment --comment "knockspa alice@198.18.0.2/tcp/22 until 1800000000" -j ACCEPT';
const ADMIN_RULE = ['-A', 'INPUT', '-s', '192.0.2.9/32', '-j', 'DROP'];

/**
 * argv to put before a command run in a namespace so that it sees the legacy tools as the system's:
 * a copy of /etc/alternatives whose iptables links name the legacy tools, mounted over it in the
 * command's own mount namespace only (removed after the test).
 */
function legacyWrap(t: TestContext): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-legacy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of readdirSync('/etc/alternatives')) {
    const from = join('/etc/alternatives', name);
    if (!(name in LEGACY) && lstatSync(from).isSymbolicLink()) symlinkSync(readlinkSync(from), join(dir, name));
  }
  for (const [name, target] of Object.entries(LEGACY)) {
    assert.ok(existsSync(`/usr/sbin/${target}`), `/usr/sbin/${target} is missing: Debian's iptables package has it`);
    symlinkSync(`/usr/sbin/${target}`, join(dir, name));
  }
  return ['sh', '-c', 'mount --bind "$0" /etc/alternatives && exec "$@"', dir];
}

/** KNOCKSPA in the legacy tables without the kernel screen's standing rules. */
async function legacyGrants(net: TestNet): Promise<string[]> {
  return (await legacyRules(net, 'KNOCKSPA')).filter((l) => !l.includes('knockspa screen '));
}

async function legacyRules(net: TestNet, chain?: string): Promise<string[]> {
  const r = await net.runOk(net.srv, ['iptables-legacy', '-w', '-S', ...(chain === undefined ? [] : [chain])]);
  return r.stdout.split('\n').filter((l) => l !== '');
}

test(
  'iptables backend, legacy variant: grants in the legacy tables; the waiting spare holds no xtables lock',
  { timeout: 60_000 },
  async (t) => {
    const net = await e2eNet(t, LEGACY_NEEDS);
    if (net === null) return;
    const driver = net.spawnIn(net.srv, [...legacyWrap(t), NODE, DRIVER]);
    t.after(() => driver.child.kill());
    const ask = async (cmd: { op: string; ip?: string }): Promise<void> => {
      const since = driver.mark();
      driver.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
      const answer = await driver.waitForJson((l) => l.op === cmd.op, { since, timeoutMs: 15_000 });
      assert.equal(answer.ok, true, `${cmd.op}: ${String(answer.error)}`);
    };

    await ask({ op: 'setup' });
    assert.deepEqual(
      await legacyRules(net, 'INPUT'),
      ['-P INPUT ACCEPT', '-A INPUT -j KNOCKSPA'],
      'the chain and jump are in the legacy tables',
    );
    // setup leaves a spare iptables-restore waiting for the next batch; the lock must be free meanwhile.
    const admin = await net.run(net.srv, ['iptables-legacy', '-w', '2', ...ADMIN_RULE], { timeoutMs: 10_000 });
    assert.equal(admin.code, 0, `the admin's iptables -w 2 got the lock: ${admin.stderr}`);

    await ask({ op: 'open', ip: net.clientV4 });
    assert.deepEqual(await legacyRules(net, 'KNOCKSPA'), ['-N KNOCKSPA', GRANT]);
    assert.ok((await legacyRules(net, 'INPUT')).includes(ADMIN_RULE.join(' ')), "the admin's rule is still there");
    await ask({ op: 'close', ip: net.clientV4 });
    assert.deepEqual(await legacyRules(net, 'KNOCKSPA'), ['-N KNOCKSPA']);
    await ask({ op: 'detach' });
    assert.deepEqual(
      await legacyRules(net),
      ['-P INPUT ACCEPT', '-P FORWARD ACCEPT', '-P OUTPUT ACCEPT', ADMIN_RULE.join(' ')],
      'chain and jump gone, the rest as it was',
    );
  },
);

test(
  'the daemon on the legacy variant: a knock opens the port in the legacy tables, a close knock shuts it',
  { timeout: 60_000 },
  async (t) => {
    const net = await e2eNet(t, LEGACY_NEEDS);
    if (net === null) return;
    const dropPort = ['-A', 'INPUT', '-p', 'tcp', '-m', 'tcp', '--dport', String(PROTECTED_PORT), '-j', 'DROP'];
    await net.runOk(net.srv, ['iptables-legacy', '-w', ...dropPort]);
    await service(net);
    const site = await makeSite(net, { listen: 'udp' });
    const daemon = await startDaemon(net, site.configPath, { wrap: legacyWrap(t) });
    t.after(() => daemon.stop('SIGTERM', 3_000));
    assert.equal(daemon.start.firewall, 'iptables');
    assert.deepEqual(
      await legacyRules(net, 'INPUT'),
      ['-P INPUT ACCEPT', '-A INPUT -j KNOCKSPA', dropPort.join(' ')],
      'the jump goes in first, in the legacy tables',
    );
    const connect = (timeoutMs?: number) => tcpConnect(net, net.cli, net.serverV4, PROTECTED_PORT, { timeoutMs });
    assert.equal((await connect(DROP_TIMEOUT_MS)).outcome, 'timeout', 'dropped before the knock');

    const key = site.keyPath('alice');
    let since = daemon.mark();
    await knockOk(net, 'open', [String(PROTECTED_PORT)], { host: net.serverV4, key });
    await daemon.waitEvent('open', { ip: net.clientV4 }, { since });
    assert.equal((await legacyRules(net, 'KNOCKSPA')).filter((l) => l.includes('knockspa screen ')).length, 2, 'the kernel screen');
    assert.deepEqual((await legacyGrants(net)).map(stripComment), ['-N KNOCKSPA', grantRule(net.clientV4, 'tcp', PROTECTED_PORT)]);
    const nft = await net.runOk(net.srv, ['iptables-nft', '-w', '-S']);
    assert.doesNotMatch(nft.stdout, /KNOCKSPA/, 'nothing in the nf_tables variant');
    assert.equal((await connect()).outcome, 'connected', 'the knock opened the port');

    since = daemon.mark();
    await knockOk(net, 'close', [String(PROTECTED_PORT)], { host: net.serverV4, key });
    await daemon.waitEvent('close', { ip: net.clientV4, why: 'knock' }, { since });
    assert.deepEqual(await legacyGrants(net), ['-N KNOCKSPA']);
    assert.equal((await connect(DROP_TIMEOUT_MS)).outcome, 'timeout', 'dropped again after the close knock');

    assert.equal((await daemon.stop()).code, 0);
    assert.deepEqual(
      await legacyRules(net),
      ['-P INPUT ACCEPT', '-P FORWARD ACCEPT', '-P OUTPUT ACCEPT', dropPort.join(' ')],
      "stopped: chain and jump gone, the admin's rule left",
    );
  },
);
