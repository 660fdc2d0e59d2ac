/**
 * The Debian package under a real systemd: a Debian 13 root (debootstrap, cached) boots under
 * systemd-nspawn inside the server namespace of a TestNet; the README's base ruleset and its
 * "Server" lines run in it as written (apt-get install ./knockspa_*_all.deb brings Debian's nodejs);
 * then, from the client namespace: a knock opens tcp/22 and a real ssh gets in; `systemctl reload`
 * picks up a new user's key; `systemctl stop` closes every grant; `journalctl -u knockspa` holds the
 * JSON events; `apt-get remove` leaves the ruleset as it was before the install.
 *
 * Needs root, debootstrap, systemd-container and a Debian mirror; skipped without them, a failure
 * with CI=true. Times (debootstrap cold and cached, boot, whole test) go out as diagnostics and are
 * written down in docs/operations.md.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { eventually, knockOk, REPO_ROOT, SPA_PORT } from '../support/knockspa.js';
import { TestNet } from '../lab/netns.js';
import { tcpConnect } from '../lab/probes.js';
import { NODE, type LogLine } from '../lab/process.js';
import { netnsUnavailableReason } from '../lab/requirements.js';
import { sshEnv } from '../lab/sshd.js';
import { Machine, makeRoot, nspawnUnavailableReason } from '../lab/nspawn.js';

/** A bootable Debian 13 with what the test itself uses inside (sshd to log in to; iptables/nftables are the package's Depends). */
export const PACKAGE_TEST_ROOT = {
  suite: 'trixie',
  packages: ['systemd', 'systemd-sysv', 'dbus', 'iptables', 'nftables', 'openssh-server', 'iproute2', 'ca-certificates'],
};
const DEB_DIR = '/srv/deb';
const SSH = '/usr/bin/ssh';

/** The first ```sh block after `heading` in a Markdown file of the checkout, as command lines (comment-only and blank lines dropped). */
export function docBlock(file: string, heading: string): string[] {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  const at = text.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`${file} has no heading "${heading}"`);
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(at))?.[1];
  if (block === undefined) throw new Error(`${file}: no sh block under "${heading}"`);
  return block.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

function skipReason(): string | null {
  return netnsUnavailableReason() ?? nspawnUnavailableReason();
}

/**
 * Waits out the first start's window: a daemon that starts without its state refuses knocks
 * stamped before its start + max_skew (30 s; docs/protocol.md §5), and keeps that in its state.
 */
async function pastFirstStartWindow(start: LogLine): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(String(start.time)) + 31_000 - Date.now())));
}

async function journal(m: Machine): Promise<LogLine[]> {
  const r = await m.execOk(['journalctl', '-u', 'knockspa', '-o', 'cat', '--no-pager']);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

async function waitJournal(m: Machine, what: string, pred: (l: LogLine) => boolean, since = 0): Promise<LogLine> {
  let found: LogLine | undefined;
  const ok = await eventually(
    async () => {
      found = (await journal(m)).slice(since).find(pred);
      return found !== undefined;
    },
    20_000,
    250,
  );
  if (!ok || found === undefined)
    throw new Error(
      `journal of knockspa: no ${what}\n${(await m.exec(['journalctl', '-u', 'knockspa', '--no-pager', '-n', '60'])).stdout}`,
    );
  return found;
}

/** Everything in the machine's firewall: nftables (iptables-nft lives there too) and the legacy tables. */
async function ruleset(m: Machine): Promise<string> {
  const nft = (await m.execOk(['nft', '--stateless', 'list', 'ruleset'])).stdout; // no counters
  const legacy = (await m.execOk(['iptables-legacy-save'])).stdout.replace(/^#.*\n/gm, '');
  return `${nft}\n--- legacy ---\n${legacy}`;
}

interface Booted {
  readonly m: Machine;
  readonly net: TestNet;
  readonly work: string;
  readonly deb: string;
}

/** Builds the package, boots the cached Debian 13 root in a TestNet's server namespace with the package's dependencies downloaded; null when skipped. */
async function bootWithPackage(t: TestContext): Promise<Booted | null> {
  const why = skipReason();
  if (why !== null) {
    if (process.env.CI === 'true')
      throw new Error(`the systemd-nspawn test cannot run (${why}); CI must run it, a skip there is a failure`);
    t.skip(`needs root, debootstrap and systemd-nspawn (${why})`);
    return null;
  }
  const work = mkdtempSync(join(tmpdir(), 'knockspa-pkg-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const debDir = join(work, 'deb');
  mkdirSync(debDir);
  execFileSync(NODE, [join(REPO_ROOT, 'dist', 'scripts', 'package-deb.js'), '--out', debDir], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const debs = readdirSync(debDir).filter((f) => f.endsWith('.deb'));
  assert.equal(debs.length, 1, `one package built: ${debs.join(', ')}`);

  const rootStarted = Date.now();
  const root = await makeRoot(PACKAGE_TEST_ROOT);
  t.diagnostic(
    `root ${root.cached ? 'from the cache' : 'made now'}: ${root.cached ? `${Date.now() - rootStarted} ms (debootstrap took ${root.seconds} s when made)` : `debootstrap ${root.seconds} s`}`,
  );

  const net = await TestNet.create(t);
  const m = await Machine.create({ root: root.path, netns: net.srv, binds: [{ host: debDir, guest: DEB_DIR, readOnly: true }] });
  t.after(() => m.destroy());
  // Downloads before boot, on the host's network (the booted machine only has the test link).
  const dlStarted = Date.now();
  await m.prepare(['apt-get', 'update', '-qq']);
  await m.prepare(['apt-get', 'install', '-y', '-qq', '--download-only', `${DEB_DIR}/${debs[0]}`]);
  t.diagnostic(`apt-get update + download: ${Date.now() - dlStarted} ms`);
  const bootStarted = Date.now();
  await m.boot();
  t.diagnostic(`boot to "running": ${Date.now() - bootStarted} ms`);
  return { m, net, work, deb: `${DEB_DIR}/${debs[0]}` };
}

test(
  'Debian package under systemd: install, knock, ssh, reload, stop, journal, remove',
  { timeout: 30 * 60_000 },
  async (t: TestContext) => {
    const started = Date.now();
    const booted = await bootWithPackage(t);
    if (booted === null) return;
    const { m, net, work } = booted;

    // The base ruleset of docs/operations.md (both families), then the firewall as it is before the package.
    for (const line of docBlock('docs/operations.md', '## Base ruleset'))
      await m.shell(line).then((r) => assert.equal(r.code, 0, `${line}: ${r.stderr}`));
    const before = await ruleset(m);

    // The README's server lines, as written. The first one installs; right after it, the daemon with
    // no users starts and says so (then stops again, before the rest of the lines).
    const lines = docBlock('README.md', '## Server');
    assert.match(lines[0] as string, /^apt-get install \.\/knockspa_/, 'the README starts with the install');
    // apt-get asks to confirm; the test answers as the admin would.
    const install = await m.shell(lines[0] as string, { cwd: DEB_DIR, timeoutMs: 300_000, input: 'y\n' });
    assert.equal(install.code, 0, `${lines[0]}:\n${install.stdout.slice(-3000)}\n${install.stderr}`);
    assert.equal((await m.exec(['systemctl', 'is-active', 'knockspa'])).stdout.trim(), 'inactive', 'installing starts nothing');
    assert.equal((await m.exec(['systemctl', 'is-enabled', 'knockspa'])).stdout.trim(), 'disabled', 'installing enables nothing');
    await m.execOk(['systemctl', 'start', 'knockspa']);
    const empty = await waitJournal(m, 'start event with no users', (l) => l.event === 'start');
    assert.equal(empty.users, 0);
    assert.match(String(empty.msg), /no users: every knock is refused/);
    await m.execOk(['systemctl', 'stop', 'knockspa']);
    const mark = (await journal(m)).length;

    for (const line of lines.slice(1)) {
      const r = await m.shell(line);
      assert.equal(r.code, 0, `README line failed: ${line}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
    assert.equal((await m.exec(['systemctl', 'is-active', 'knockspa'])).stdout.trim(), 'active');
    const start = await waitJournal(m, 'start event', (l) => l.event === 'start' && l.users === 1, mark);
    assert.equal(start.firewall, 'iptables');

    const security = await m.execOk(['systemd-analyze', 'security', '--no-pager', 'knockspa.service']);
    const exposure = /Overall exposure level for knockspa\.service: (\d+\.\d)/.exec(security.stdout)?.[1];
    t.diagnostic(`systemd-analyze security knockspa: ${exposure}`);
    assert.ok(exposure !== undefined, security.stdout.slice(-500));
    assert.match(
      readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'),
      new RegExp(`systemd-analyze security knockspa\` rates it ${exposure.replace('.', '\\.')} `),
      'README states the measured figure',
    );

    // Keys out to the client; an ssh key in for root.
    const keyFile = async (user: string): Promise<string> => {
      const p = join(work, `${user}.key`);
      writeFileSync(p, (await m.execOk(['cat', `/etc/knockspa/keys/${user}.key`])).stdout, { mode: 0o600 });
      chmodSync(p, 0o600);
      return p;
    };
    const alice = await keyFile('alice');
    const sshKey = join(work, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', sshKey]);
    await m.execOk(['sh', '-ec', `install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys`], {
      input: readFileSync(`${sshKey}.pub`),
    });
    const host = net.serverV4;
    const ssh = () =>
      net.run(
        net.cli,
        [
          SSH,
          '-F',
          '/dev/null',
          '-i',
          sshKey,
          '-T',
          '-o',
          'IdentitiesOnly=yes',
          '-o',
          'StrictHostKeyChecking=no',
          '-o',
          'UserKnownHostsFile=/dev/null',
          '-o',
          'BatchMode=yes',
          '-o',
          'LogLevel=ERROR',
          '-o',
          'ConnectTimeout=3',
          `root@${host}`,
          'cat',
          '/etc/debian_version',
        ],
        { env: sshEnv(), timeoutMs: 20_000 },
      );

    await t.test('ssh is dropped until a knock; after it, a real ssh logs in', async () => {
      const shut = await ssh();
      assert.notEqual(shut.code, 0, 'ssh got in without a knock');
      await pastFirstStartWindow(empty);
      await knockOk(net, 'open', ['tcp/22'], { host, key: alice, spaPort: SPA_PORT, duration: 300 });
      await waitJournal(m, 'open for alice', (l) => l.event === 'open' && l.user === 'alice', mark);
      const open = await ssh();
      assert.equal(open.code, 0, `ssh after the knock: ${open.stderr}`);
      assert.match(open.stdout, /^13\./, 'the machine is Debian 13');
    });

    await t.test('systemctl reload picks up a new user and key', async () => {
      await m.execOk(['sh', '-ec', 'knockspa keygen --user bob --server-id "$(hostname)" --out /etc/knockspa/keys']);
      const bob = await keyFile('bob');
      const early = (await journal(m)).length;
      await knockOk(net, 'open', ['tcp/22'], { host, key: bob, spaPort: SPA_PORT, duration: 300, allowIp: net.client2V4 });
      await waitJournal(m, 'reject of bob before the reload', (l) => l.event === 'reject' || l.event === 'reject-suppressed', early);
      await m.execOk(['sh', '-ec', `printf '\\n[users.bob]\\nports = ["tcp/22"]\\n' >> /etc/knockspa/server.toml`]);
      await m.execOk(['systemctl', 'reload', 'knockspa']);
      // bob's grant is for the client's second address: one firewall entry per address and port.
      await waitJournal(m, 'reload with two users', (l) => l.event === 'reload' && l.users === 2, early);
      await knockOk(net, 'open', ['tcp/22'], { host, key: bob, spaPort: SPA_PORT, duration: 300, allowIp: net.client2V4 });
      await waitJournal(m, 'open for bob', (l) => l.event === 'open' && l.user === 'bob', early);
    });

    await t.test('systemctl stop closes every grant', async () => {
      const grants = (await m.execOk(['iptables', '-w', '-S', 'KNOCKSPA'])).stdout;
      const log = (await journal(m))
        .slice(mark)
        .map((l) => JSON.stringify(l))
        .join('\n');
      assert.match(grants, /knockspa alice@/, log);
      assert.match(grants, /knockspa bob@/);
      await m.execOk(['systemctl', 'stop', 'knockspa']);
      const events = (await journal(m)).slice(mark);
      const opened = events.filter((l) => l.event === 'open').length;
      const closed = events.filter((l) => l.event === 'close' && l.why === 'shutdown');
      assert.ok(opened >= 2 && closed.length >= 2, `opens ${opened}, shutdown closes ${closed.length}`);
      assert.ok(
        events.some((l) => l.event === 'stop'),
        'a stop event',
      );
      assert.doesNotMatch((await m.execOk(['iptables', '-w', '-S'])).stdout, /knockspa \w+@/, 'no grant left in the firewall');
      assert.notEqual((await ssh()).code, 0, 'ssh gets in after the stop');
    });

    await t.test('journalctl -u knockspa holds the JSON events', async () => {
      const kinds = new Set((await journal(m)).slice(mark).map((l) => l.event));
      for (const e of ['start', 'knock', 'open', 'reject', 'reload', 'close', 'stop'])
        assert.ok(kinds.has(e), `event ${e} in the journal (saw ${[...kinds].join(', ')})`);
    });

    await t.test('apt-get remove leaves the ruleset as before the install', async () => {
      await m.execOk(['systemctl', 'start', 'knockspa']);
      await m.execOk(['apt-get', 'remove', '-y', '-qq', 'knockspa'], { timeoutMs: 120_000 });
      assert.equal((await m.exec(['systemctl', 'is-active', 'knockspa'])).stdout.trim(), 'inactive');
      assert.equal(await ruleset(m), before);
      await m.execOk(['apt-get', 'purge', '-y', '-qq', 'knockspa'], { timeoutMs: 120_000 });
      assert.notEqual((await m.exec(['test', '-e', '/var/lib/knockspa'])).code, 0, 'purge removes the state');
    });
    t.diagnostic(`whole test: ${Math.round((Date.now() - started) / 1000)} s`);
  },
);

test(
  'iptables-legacy under the unit: the xtables lock is writable, a knock opens, remove cleans up',
  { timeout: 15 * 60_000 },
  async (t: TestContext) => {
    const booted = await bootWithPackage(t);
    if (booted === null) return;
    const { m, net, work } = booted;
    for (const [tool, legacy] of [
      ['iptables', '/usr/sbin/iptables-legacy'],
      ['ip6tables', '/usr/sbin/ip6tables-legacy'],
    ] as const)
      await m.execOk(['update-alternatives', '--set', tool, legacy]);
    for (const line of docBlock('docs/operations.md', '## Base ruleset')) await m.execOk(['sh', '-ec', line]);
    const before = await ruleset(m);
    await m.execOk(['apt-get', 'install', '-y', '-qq', booted.deb], { timeoutMs: 300_000 });
    // The package made the lock at install (tmpfiles.d), which the unit's ReadWritePaths= needs.
    await m.execOk(['test', '-f', '/run/xtables.lock']);
    await m.execOk(['sh', '-ec', 'knockspa keygen --user alice --server-id "$(hostname)" --out /etc/knockspa/keys']);
    await m.execOk(['sh', '-ec', `printf '\\n[users.alice]\\nports = ["tcp/22"]\\n' >> /etc/knockspa/server.toml`]);
    await m.execOk(['systemctl', 'enable', '--now', 'knockspa']);
    const started = await waitJournal(m, 'start event', (l) => l.event === 'start');
    const key = join(work, 'alice.key');
    writeFileSync(key, (await m.execOk(['cat', '/etc/knockspa/keys/alice.key'])).stdout, { mode: 0o600 });
    await pastFirstStartWindow(started);
    await knockOk(net, 'open', ['tcp/22'], { host: net.serverV4, key, spaPort: SPA_PORT, duration: 300 });
    await waitJournal(m, 'open for alice', (l) => l.event === 'open' && l.user === 'alice');
    assert.match(
      (await m.execOk(['iptables-legacy', '-w', '-S', 'KNOCKSPA'])).stdout,
      /knockspa alice@/,
      'the grant is in the legacy table',
    );
    assert.ok(!(await journal(m)).some((l) => l.event === 'firewall-error'), 'no firewall errors');
    await m.execOk(['apt-get', 'remove', '-y', '-qq', 'knockspa'], { timeoutMs: 120_000 });
    assert.equal(await ruleset(m), before);
  },
);

test(
  'nftables under the unit: its table drops ssh until a knock, stays after a stop, goes with the package',
  { timeout: 15 * 60_000 },
  async (t: TestContext) => {
    const booted = await bootWithPackage(t);
    if (booted === null) return;
    const { m, net, work } = booted;
    const before = await ruleset(m);
    await m.execOk(['apt-get', 'install', '-y', '-qq', booted.deb], { timeoutMs: 300_000 });
    await m.execOk(['sed', '-i', 's/^firewall = "iptables"/firewall = "nftables"/', '/etc/knockspa/server.toml']);
    await m.execOk(['sh', '-ec', 'knockspa keygen --user alice --server-id "$(hostname)" --out /etc/knockspa/keys']);
    await m.execOk(['sh', '-ec', `printf '\\n[users.alice]\\nports = ["tcp/22"]\\n' >> /etc/knockspa/server.toml`]);
    await m.execOk(['systemctl', 'enable', '--now', 'knockspa']);
    const start = await waitJournal(m, 'start event', (l) => l.event === 'start');
    assert.equal(start.firewall, 'nftables');
    const key = join(work, 'alice.key');
    writeFileSync(key, (await m.execOk(['cat', '/etc/knockspa/keys/alice.key'])).stdout, { mode: 0o600 });
    const reach = async (): Promise<string> => (await tcpConnect(net, net.cli, net.serverV4, 22, { timeoutMs: 1_500 })).outcome;
    assert.equal(await reach(), 'timeout', "tcp/22 is dropped by knockspa's table before a knock");
    await pastFirstStartWindow(start);
    await knockOk(net, 'open', ['tcp/22'], { host: net.serverV4, key, spaPort: SPA_PORT, duration: 300 });
    await waitJournal(m, 'open for alice', (l) => l.event === 'open' && l.user === 'alice');
    assert.equal(await reach(), 'connected', 'tcp/22 opens after the knock');
    await m.execOk(['systemctl', 'stop', 'knockspa']);
    assert.match((await m.execOk(['nft', 'list', 'table', 'inet', 'knockspa'])).stdout, /chain input/, 'the table stays after a stop');
    assert.equal(await reach(), 'timeout', 'the stop closed the grant and the port stays dropped');
    await m.execOk(['apt-get', 'remove', '-y', '-qq', 'knockspa'], { timeoutMs: 120_000 });
    assert.equal(await ruleset(m), before, 'remove takes the table out');
  },
);
