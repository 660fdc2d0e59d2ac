/**
 * Fail closed (issue 18, items 2-10, 12, 13), each attack as described, against the real daemon
 * and iptables in namespaces: replay protection across a wider max_skew (reload, restart), a state
 * save that fails, a torn state file; the replay quota per user; state records and firewall entries
 * as untrusted input; the state directory and key files the daemon's own; budgets a spoofer cannot
 * turn against a user (junk in a user's name from the user's address, fwknop junk from many
 * sources); firewall tools not taken from the inherited PATH.
 */
import { strict as assert } from 'node:assert';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseKeyPair, randomValueFrom, sealFwknopPacket, type FwknopKeys } from '../../src/protocol/fwknop/index.js';
import { parsePortSpec, type PortSpec } from '../../src/protocol/ports.js';
import { currentBootId } from '../../src/server/state/boot-id.js';
import { frame, STATE_VERSION } from '../../src/server/state/state.js';
import { newFwknopKeys, type FwknopKeysB64 } from '../lab/fwknop.js';
import type { TestNet } from '../lab/netns.js';
import { canConnect, sendUdp } from '../lab/probes.js';
import { NODE, run, sleep } from '../lab/process.js';
import { e2eNet, PROTECTED_PORT, withScenario, type Scenario } from '../support/e2e.js';
import { CLI, craftPacket, grantRule, keygen, knock, knockOk, SPA_PORT, startDaemon } from '../support/knockspa.js';

/** Sends packets [{hex, from}] from one process, `perTick` every `tickMs`; prints "done N". */
const UDP_SEND_MANY = `
const dgram = require('node:dgram');
const fs = require('node:fs');
const [host, port, file, perTick, tickMs] = process.argv.slice(1);
const packets = JSON.parse(fs.readFileSync(file, 'utf8'));
const sockets = new Map();
const socketFor = (from) => new Promise((resolve) => {
  if (sockets.has(from)) return resolve(sockets.get(from));
  const s = dgram.createSocket('udp4');
  sockets.set(from, s);
  if (from) s.bind({ address: from, port: 0 }, () => resolve(s)); else resolve(s);
});
(async () => {
  for (const p of packets) await socketFor(p.from || '');
  let i = 0, sent = 0;
  const tick = async () => {
    const batch = packets.slice(i, i + Number(perTick));
    i += batch.length;
    await Promise.all(batch.map((p) => new Promise((r) => sockets.get(p.from || '').send(Buffer.from(p.hex, 'hex'), Number(port), host, (e) => { if (!e) sent++; r(); }))));
    if (i < packets.length) setTimeout(tick, Number(tickMs));
    else { console.log('done ' + sent); for (const s of sockets.values()) s.close(); }
  };
  tick();
})();
`;

interface Outgoing {
  readonly bytes: Uint8Array;
  readonly from?: string;
}

/** Starts sending `packets` from the client namespace at perTick every tickMs; resolves with the number sent once all are out. */
function sendMany(net: TestNet, dir: string, packets: readonly Outgoing[], perTick: number, tickMs: number): Promise<number> {
  const file = join(mkdtempSync(join(dir, 'send-')), 'packets.json');
  writeFileSync(file, JSON.stringify(packets.map((p) => ({ hex: Buffer.from(p.bytes).toString('hex'), from: p.from ?? '' }))));
  const timeoutMs = 30_000 + Math.ceil(packets.length / perTick) * tickMs * 2;
  return net
    .run(net.cli, [NODE, '-e', UDP_SEND_MANY, net.serverV4, String(SPA_PORT), file, String(perTick), String(tickMs)], { timeoutMs })
    .then((r) => {
      const m = /done (\d+)/.exec(r.stdout);
      if (r.code !== 0 || m === null) throw new Error(`sender failed: exit ${r.code} ${r.stderr}`);
      return Number(m[1]);
    });
}

async function reload(s: Scenario): Promise<void> {
  const m = s.daemon.mark();
  s.daemon.proc.kill('SIGHUP');
  await s.daemon.waitEvent('reload', {}, { since: m });
}

/** `bytes` from net.client2V4 (an eavesdropper elsewhere) open nothing. */
async function replayFromElsewhereOpensNothing(s: Scenario, bytes: Uint8Array, what: string): Promise<void> {
  const m = s.daemon.mark();
  await sendUdp(s.net, s.net.cli, s.net.serverV4, SPA_PORT, bytes, { localAddress: s.net.client2V4 });
  const rej = await s.daemon.waitEvent('reject', { source: s.net.client2V4 }, { since: m });
  assert.ok(rej.reason === 'stale' || rej.reason === 'replay', `refused as stale or replay (${what}): ${JSON.stringify(rej)}`);
  await sleep(300); // time for a wrongly accepted knock to show up
  assert.deepEqual(s.daemon.events('knock', m), [], `no knock accepted: ${what}`);
  assert.deepEqual(s.daemon.events('open', m), [], `nothing opened: ${what}`);
  await s.assertBase(`no rule: ${what}`);
}

/** A knock of `keyFile` stamped now, lasting 2 s, sent from the client: accepted; resolves once its grant closed again. Returns its bytes. */
async function knockAndExpire(s: Scenario, keyFile: string): Promise<Uint8Array> {
  const bytes = craftPacket({ keyFile, durationSec: 2 });
  const m = s.daemon.mark();
  await sendUdp(s.net, s.net.cli, s.net.serverV4, SPA_PORT, bytes);
  await s.daemon.waitEvent('open', { ip: s.net.clientV4 }, { since: m });
  await s.daemon.waitEvent('close', { why: 'timeout', ip: s.net.clientV4 }, { since: m, timeoutMs: 5_000 });
  return bytes;
}

/** A well-framed state file of this boot with these grant records (and an empty replay cache). */
function stateText(grants: readonly object[], maxSkewMs = 30_000, replayEntries: readonly unknown[] = []): string {
  const bootId = currentBootId();
  return frame(
    JSON.stringify({
      version: STATE_VERSION,
      replay: { version: 1, entries: replayEntries },
      grants,
      maxSkewMs,
      notBeforeMs: 0,
      ...(bootId === undefined ? {} : { bootId }),
    }),
  );
}

/** Whether iptables or ip6tables in the server namespace lists anything naming `needle`. */
async function firewallMentions(net: TestNet, needle: string): Promise<boolean> {
  for (const tool of ['iptables', 'ip6tables']) {
    const r = await net.run(net.srv, [tool, '-w', '-S']);
    if (r.stdout.includes(needle)) return true;
  }
  return false;
}

/** user + system CPU ticks of a process (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]);
}

/** Runs `knockspa server` to its exit (a start that must fail). */
function serverRun(net: TestNet, configPath: string): ReturnType<typeof run> {
  return net.run(net.srv, [NODE, CLI, 'server', '--config', configPath], { timeoutMs: 20_000 });
}

const port = (text: string): PortSpec => parsePortSpec(text) as PortSpec;

test('fail closed', { timeout: 600_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;

  await t.test(
    '(2) max_skew raised by SIGHUP: a knock whose replay entry expired under the old window, replayed from another address, opens nothing',
    (t) =>
      withScenario(t, net, { extra: { max_skew: 3 } }, async (s) => {
        const bytes = await knockAndExpire(s, s.site.keyPath('alice'));
        // Its entry lived until its stamp + 3 s (+ the cache's whole-second pruning).
        await sleep(Math.max(0, 5_200 - 2_000));
        s.site.writeConfig({ max_skew: 300 });
        await reload(s);
        await replayFromElsewhereOpensNothing(s, bytes, 'after max_skew 3 -> 300 and SIGHUP');
        const m = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 2 });
        await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      }),
  );

  await t.test('(2) max_skew raised across a restart: the same replay opens nothing', (t) =>
    withScenario(t, net, { extra: { max_skew: 3 } }, async (s) => {
      const bytes = await knockAndExpire(s, s.site.keyPath('alice'));
      await sleep(3_200);
      const stopped = await s.daemon.stop('SIGTERM');
      assert.equal(stopped.code, 0);
      s.site.writeConfig({ max_skew: 300 });
      await s.startAgain();
      await replayFromElsewhereOpensNothing(s, bytes, 'after max_skew 3 -> 300 and a restart');
    }),
  );

  /** The command backend (its rules may outlive a reboot: the state file is saved durably), with commands that change nothing. */
  const COMMAND_BACKEND = {
    firewall: 'command',
    firewall_command: { open: '/bin/true open %IP% %PROTO% %PORT%', close: '/bin/true close %IP% %PROTO% %PORT%' },
  } as const;
  for (const backend of ['iptables', 'command'] as const) {
    const saves = backend === 'iptables' ? 'in place' : 'durable: a new file renamed over it';
    await t.test(
      `(3) a state save that fails (state_dir on a full tmpfs; ${backend} backend, saves ${saves}): the knock is refused (state-error), and its bytes stay refused after a restart`,
      (t) =>
        withScenario(t, net, { start: false, ...(backend === 'command' ? { extra: COMMAND_BACKEND } : {}) }, async (s) => {
          const dir = s.site.stateDir;
          const mounted = await run(null, ['mount', '-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'knockspa-test-state', dir]);
          assert.equal(mounted.code, 0, `mount tmpfs: ${mounted.stderr}`);
          t.after(async () => void (await run(null, ['umount', '-l', dir])));
          // A state of exactly one page (4096 bytes, little padding): any save that must grow needs a page more.
          const entries: [string, number][] = [];
          const expires = Date.now() + 600_000;
          let text = stateText([]);
          while (text.length < 4096 - 60) {
            entries.push([Buffer.from(Array.from({ length: 16 }, (_, i) => (entries.length * 31 + i) & 0xff)).toString('hex'), expires]);
            text = stateText([], 30_000, entries);
          }
          if (text.length > 4096) text = stateText([], 30_000, entries.slice(0, -1));
          writeFileSync(join(dir, 'state.json'), text.padEnd(4096, ' '), { mode: 0o600 });
          // Fill the file system.
          const filler = Buffer.alloc(4096, 0x78);
          for (let i = 0; ; i++) {
            try {
              writeFileSync(join(dir, `filler-${i}`), filler);
            } catch (err) {
              assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
              rmSync(join(dir, `filler-${i}`), { force: true });
              // One page back for the daemon's pid lock (state_dir/knockspa.pid), written at start.
              if (i > 0) rmSync(join(dir, `filler-${i - 1}`));
              break;
            }
          }
          await s.startAgain();
          const keyFile = s.site.keyPath('alice');
          const bytes = craftPacket({ keyFile, durationSec: 5 });
          const m = s.daemon.mark();
          await sendUdp(net, net.cli, host, SPA_PORT, bytes);
          const err = await s.daemon.waitEvent('state-error', {}, { since: m });
          assert.match(String(err.error), /ENOSPC/, 'the save failed for want of space');
          await sleep(300);
          assert.deepEqual(s.daemon.events('open', m), [], 'nothing opened for a knock whose state could not be saved');
          if (backend === 'iptables') await s.assertBase('no rule for the refused knock');
          // Space again, a clean restart: the bytes are still refused.
          for (const f of readdirSync(dir)) if (f.startsWith('filler-')) rmSync(join(dir, f));
          const stopped = await s.daemon.stop('SIGTERM');
          assert.equal(stopped.code, 0);
          await s.startAgain();
          await replayFromElsewhereOpensNothing(s, bytes, 'the refused knock after a restart');
        }),
    );
  }

  await t.test(
    '(4) a torn state file (new text over part of an older one, still valid JSON) reads as lost state: state-corrupt, packets stamped before start + skew refused',
    (t) =>
      withScenario(t, net, { extra: { max_skew: 3 } }, async (s) => {
        const keyFile = s.site.keyPath('alice');
        let m = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host, key: keyFile, duration: 2 });
        await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
        assert.equal((await s.daemon.stop('SIGTERM')).code, 0);
        const file = join(s.site.stateDir, 'state.json');
        const old = readFileSync(file, 'utf8');
        const saved = (JSON.parse(old) as { state: { replay: { entries: unknown[] } } }).state;
        // The next save (an empty cache) torn after its first 100 bytes: the rest is the old text.
        const next = frame(JSON.stringify({ ...saved, replay: { ...saved.replay, entries: [] } }));
        const torn = next.slice(0, 100) + old.slice(100);
        JSON.parse(torn); // as JSON it is whole
        writeFileSync(file, torn);
        const early = craftPacket({ keyFile, durationSec: 2 });
        await sleep(20);
        const d = await s.startAgain();
        const corrupt = await d.waitEvent('state-corrupt', {});
        assert.match(String(corrupt.error), /checksum/);
        m = d.mark();
        await sendUdp(net, net.cli, host, SPA_PORT, early, { localAddress: net.client2V4 });
        await d.waitEvent('reject', { reason: 'stale', source: net.client2V4 }, { since: m });
        await sleep(300);
        assert.deepEqual(d.events('open', m), [], 'nothing opened');
        await s.assertBase('no rule for a packet stamped before the start');
      }),
  );

  await t.test('(5) the replay quota is per user: alice with 16 keys hits user-over-quota, bob still gets in', (t) =>
    withScenario(
      t,
      net,
      {
        users: { alice: { ports: ['tcp/22'], max_duration: 300 }, bob: { ports: ['tcp/22'], max_duration: 300 } },
        extra: { replay_capacity: 1000 },
      },
      async (s) => {
        const keys = [s.site.keyPath('alice')];
        for (let i = 1; i < 16; i++) {
          const other = mkdtempSync(join(s.site.dir, 'rot-'));
          const f = await keygen(other, 'alice');
          const name = join(s.site.keysDir, `alice.k${i}.key`);
          copyFileSync(f, name);
          chmodSync(name, 0o600);
          keys.push(name);
        }
        await reload(s);
        // 16 keys x 64 (a per-key quota of capacity / 16) would fill the 1000-entry cache.
        const packets = Array.from({ length: 1024 }, (_, i) => ({
          bytes: craftPacket({ keyFile: keys[i % 16] as string, durationSec: 30 }),
        }));
        const m = s.daemon.mark();
        assert.equal(await sendMany(net, s.site.dir, packets, 20, 20), 1024);
        // Logged one by one, or counted in the next summary once the per-source log limit is reached.
        await s.daemon.proc.waitForJson(
          (l) =>
            (l.event === 'reject' && l.reason === 'user-over-quota') ||
            (l.event === 'reject-suppressed' && JSON.stringify(l.reasons).includes('user-over-quota')),
          { since: m, timeoutMs: 20_000 },
        );
        await sleep(500);
        const accepted = s.daemon.events('knock', m).length;
        assert.equal(accepted, 64, "alice's knocks accepted until her quota (capacity / 16, at least 64), over all her keys");
        assert.deepEqual(
          s.daemon.events('reject', m).filter((l) => l.reason === 'replay-cache-full'),
          [],
          'the cache never filled',
        );
        const mb = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('bob'), duration: 5, ns: net.cli, allowIp: net.client2V4 });
        await s.daemon.waitEvent('open', { ip: net.client2V4, user: 'bob' }, { since: mb });
      },
    ),
  );

  await t.test(
    '(6) state records no knock could have made are not restored: a malformed one (ip with a newline and a second rule) makes the file corrupt; unconfigured user, forbidden port, deadline a year away are refused',
    (t) =>
      withScenario(t, net, { start: false, users: { alice: { ports: ['tcp/22'], max_duration: 300 } } }, async (s) => {
        const file = join(s.site.stateDir, 'state.json');
        const now = Date.now();
        const rec = (over: object): object => ({
          user: 'alice',
          ip: net.clientV4,
          family: 4,
          proto: 'tcp',
          port: 22,
          deadlineMs: now + 60_000,
          ...over,
        });
        // A record whose ip carries a second iptables rule.
        writeFileSync(file, stateText([rec({ ip: `${net.client2V4}\n-A INPUT -j ACCEPT` })]), { mode: 0o600 });
        let d = await s.startAgain();
        await d.waitEvent('state-corrupt', {});
        assert.equal(await firewallMentions(net, net.client2V4), false, 'nothing for the injected address');
        assert.deepEqual(await s.extra(4), [], 'no rule restored');
        assert.ok(!(await s.rules(4)).includes('-A INPUT -j ACCEPT'), 'no injected rule');
        assert.equal((await d.stop('SIGTERM')).code, 0);
        await s.assertPristine('pristine after SIGTERM');

        // Well-formed records the config does not allow, next to one it does.
        writeFileSync(
          file,
          stateText([
            rec({ user: 'mallory', ip: net.client2V4 }),
            rec({ port: 23 }),
            rec({ ip: '198.18.0.77', deadlineMs: now + 365 * 86_400_000 }),
            rec({ deadlineMs: now + 20_000 }),
          ]),
          { mode: 0o600 },
        );
        d = await s.startAgain();
        await d.waitEvent('open', { ip: net.clientV4, port: 22, restored: true });
        await sleep(300);
        const refused = d.events('grant-refused');
        assert.equal(refused.length, 3, `three refused: ${JSON.stringify(refused)}`);
        assert.deepEqual(refused.map((l) => [l.user, l.port, l.ip].map(String).join(' ')).sort(), [
          `alice 22 198.18.0.77`,
          `alice 23 ${net.clientV4}`,
          `mallory 22 ${net.client2V4}`,
        ]);
        assert.deepEqual(await s.extra(4), [grantRule(net.clientV4, 'tcp', 22)], 'only the allowed record');
        assert.equal(await firewallMentions(net, '198.18.0.77'), false);
        assert.equal(await firewallMentions(net, net.client2V4), false);
        assert.equal((await d.stop('SIGTERM')).code, 0);
        await s.assertPristine('pristine after SIGTERM');
      }),
  );

  await t.test('(7) a state_dir others may write (1777) is refused (exit 2, naming state_dir), and doctor fails', (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      chmodSync(s.site.stateDir, 0o1777);
      const r = await serverRun(net, s.site.configPath);
      assert.equal(r.code, 2, `exit 2: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, /state_dir/);
      const doc = await net.run(net.srv, [NODE, CLI, 'doctor', '--config', s.site.configPath], { timeoutMs: 30_000 });
      assert.notEqual(doc.code, 0, `doctor fails: ${doc.stdout}`);
      assert.match(doc.stdout + doc.stderr, new RegExp(s.site.stateDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    }),
  );

  await t.test(
    '(7) durable saves (command backend): a planted state.json.tmp symlink does not make the daemon write the link target; a symlink as state.json is refused',
    (t) =>
      withScenario(t, net, { start: false, extra: COMMAND_BACKEND }, async (s) => {
        const victim = join(s.site.dir, 'victim');
        writeFileSync(victim, 'precious\n');
        symlinkSync(victim, join(s.site.stateDir, 'state.json.tmp'));
        const d = await s.startAgain();
        const m = d.mark();
        await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 3 });
        await d.waitEvent('open', { ip: net.clientV4 }, { since: m });
        assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the link target is untouched');
        const st = statSync(join(s.site.stateDir, 'state.json'));
        assert.ok(st.isFile());
        assert.match(readFileSync(join(s.site.stateDir, 'state.json'), 'utf8'), /"grants":\[\{/, 'the grant is saved in state.json');
        assert.equal((await d.stop('SIGTERM')).code, 0);

        rmSync(join(s.site.stateDir, 'state.json'));
        symlinkSync(victim, join(s.site.stateDir, 'state.json'));
        const r = await serverRun(net, s.site.configPath);
        assert.equal(r.code, 2, `refused: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout + r.stderr, /state\.json is a symbolic link/);
        assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the link target is untouched');
      }),
  );

  await t.test(
    '(8) key files: a FIFO does not block SIGHUP (grants still close at their deadline, SIGTERM works); a 400 MB sparse file is refused unread; one owned by another uid is refused',
    (t) =>
      withScenario(t, net, {}, async (s) => {
        const keyFile = s.site.keyPath('alice');
        const pid = s.daemon.proc.pid as number;
        let m = s.daemon.mark();
        await knockOk(net, 'open', ['22'], { host, key: keyFile, duration: 4 });
        await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
        const fifo = join(s.site.keysDir, 'alice.fifo.key');
        assert.equal((await run(null, ['mkfifo', '-m', '600', fifo])).code, 0);
        m = s.daemon.mark();
        s.daemon.proc.kill('SIGHUP');
        const refusedFifo = await s.daemon.waitEvent('config-error', {}, { since: m });
        assert.match(String(refusedFifo.message), /alice\.fifo\.key is not a regular file/);
        await s.daemon.waitEvent('close', { why: 'timeout', ip: net.clientV4 }, { since: m, timeoutMs: 8_000 });
        await s.assertBase('the grant closed at its deadline');
        rmSync(fifo);

        const big = join(s.site.keysDir, 'alice.big.key');
        writeFileSync(big, '', { mode: 0o600 });
        assert.equal((await run(null, ['truncate', '-s', '400M', big])).code, 0);
        m = s.daemon.mark();
        s.daemon.proc.kill('SIGHUP');
        const refusedBig = await s.daemon.waitEvent('config-error', {}, { since: m });
        assert.match(String(refusedBig.message), /alice\.big\.key is 419430400 bytes/);
        assert.ok(rssKb(pid) < 200_000, `RSS stays small: ${rssKb(pid)} kB`);
        rmSync(big);

        const other = mkdtempSync(join(s.site.dir, 'nobody-'));
        const theirs = join(s.site.keysDir, 'alice.nobody.key');
        copyFileSync(await keygen(other, 'alice'), theirs);
        chmodSync(theirs, 0o600);
        chownSync(theirs, 65534, 65534);
        m = s.daemon.mark();
        s.daemon.proc.kill('SIGHUP');
        const refusedOwner = await s.daemon.waitEvent('config-error', {}, { since: m });
        assert.match(String(refusedOwner.message), /alice\.nobody\.key is owned by uid 65534/);
        copyFileSync(theirs, join(other, 'client.key'));
        const r = await knock(net, 'open', ['22'], { host, key: join(other, 'client.key') });
        assert.equal(r.code, 0);
        await s.daemon.waitEvent('reject', { reason: 'unknown-key', source: net.clientV4 }, { since: m });
        assert.deepEqual(s.daemon.events('open', m), [], 'the refused key opens nothing');

        // The FIFO again, then SIGTERM: the daemon is not stuck in it.
        rmSync(theirs);
        assert.equal((await run(null, ['mkfifo', '-m', '600', fifo])).code, 0);
        s.daemon.proc.kill('SIGHUP');
        await sleep(500);
        const stopped = await s.daemon.stop('SIGTERM', 3_000);
        assert.equal(stopped.code, 0, `SIGTERM: exit 0 (${JSON.stringify(stopped)})`);
      }),
  );

  await t.test(
    '(9) a firewall entry with a deadline 100 days away is not adopted, and the daemon stays idle (no setTimeout overflow)',
    (t) =>
      withScenario(t, net, { start: false }, async (s) => {
        const until = Math.ceil(Date.now() / 1000) + 100 * 86_400;
        await net.runOk(net.srv, ['iptables', '-w', '-N', 'KNOCKSPA']);
        await net.runOk(net.srv, ['iptables', '-w', '-I', 'INPUT', '1', '-j', 'KNOCKSPA']);
        await net.runOk(net.srv, [
          'iptables',
          '-w',
          '-A',
          'KNOCKSPA',
          '-s',
          `${net.clientV4}/32`,
          '-p',
          'tcp',
          '-m',
          'tcp',
          '--dport',
          '22',
          '-m',
          'comment',
          '--comment',
          `knockspa alice@${net.clientV4}/tcp/22 until ${until}`,
          '-j',
          'ACCEPT',
        ]);
        const d = await s.startAgain();
        const refused = await d.waitEvent('grant-refused', { from: 'firewall' });
        assert.equal(refused.user, 'alice');
        await s.assertBase('the far entry was taken out');
        assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: 700 }), false);
        const pid = d.proc.pid as number;
        const before = cpuTicks(pid);
        await sleep(2_000);
        const used = cpuTicks(pid) - before;
        assert.ok(used <= 20, `CPU over 2 s: ${used} ticks (expected ~0)`);
      }),
  );

  await t.test(
    "(12) junk naming alice's key id with a bad tag, from alice's own address at 10/s, does not lock her out: 5 knocks of 5 open",
    (t) =>
      withScenario(t, net, {}, async (s) => {
        const keyFile = s.site.keyPath('alice');
        const junk = Array.from({ length: 60 }, () => {
          const p = craftPacket({ keyFile, durationSec: 5 });
          p[p.length - 1] = (p[p.length - 1] as number) ^ 0xff; // a bad tag, alice's key id
          return { bytes: p, from: net.clientV4 };
        });
        const m = s.daemon.mark();
        const flood = sendMany(net, s.site.dir, junk, 1, 100);
        await sleep(600);
        for (let i = 0; i < 5; i++) {
          const k = s.daemon.mark();
          await knockOk(net, 'open', ['22'], { host, key: keyFile, duration: 5 });
          await s.daemon.waitEvent('knock', { user: 'alice' }, { since: k, timeoutMs: 3_000 });
          await sleep(800);
        }
        assert.equal(await flood, 60);
        assert.equal(s.daemon.events('knock', m).length, 5, 'all five knocks accepted');
        assert.ok(
          s.daemon.log.slice(m).some((l) => l.event === 'reject' || l.event === 'reject-suppressed'),
          'the junk was refused',
        );
        assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT), true);
      }),
  );

  const fwknopUsers = Array.from({ length: 32 }, () => newFwknopKeys());
  const fwknopUser = (keys: FwknopKeysB64) => ({
    ports: ['tcp/22'],
    max_duration: 60,
    format: 'fwknop' as const,
    fwknop_key_base64: keys.key,
    fwknop_hmac_key_base64: keys.hmacKey,
  });

  await t.test("(13) fwknop junk from 240 sources at ~4,400/s with 32 fwknop users: a clean source's 14 knocks all open", (t) =>
    withScenario(t, net, { users: Object.fromEntries(fwknopUsers.map((k, i) => [`u${i}`, fwknopUser(k)])) }, async (s) => {
      const sources = Array.from({ length: 240 }, (_, i) => `198.18.0.${10 + i}`);
      for (const a of sources) await net.runOk(net.cli, ['ip', 'addr', 'add', `${a}/24`, 'dev', net.cliIf]);
      t.after(async () => {
        for (const a of sources) await net.run(net.cli, ['ip', 'addr', 'del', `${a}/24`, 'dev', net.cliIf]);
      });
      const startMs = Date.parse(String(s.daemon.start.time));
      await sleep(Math.max(0, Math.floor(startMs / 1000) * 1000 + 1_000 - Date.now()) + 20);
      const bogus = parseKeyPair(newFwknopKeys().key, newFwknopKeys().hmacKey) as FwknopKeys;
      const seal = (keys: FwknopKeys, user: string, allowIp: string, salt: number): Uint8Array =>
        new TextEncoder().encode(
          sealFwknopPacket(
            keys,
            {
              randomValue: randomValueFrom(new Uint8Array(8).map((_, i) => ((salt >> (i * 4)) & 0xff) ^ i)),
              username: user,
              timestampSec: Math.floor(Date.now() / 1000),
              version: '3.0.0',
              allowIp,
              ports: [port('tcp/22')],
              clientTimeoutSec: 30,
              digest: 'sha256',
            },
            new Uint8Array(8).map((_, i) => (salt * 7 + i) & 0xff),
          ),
        );
      const seconds = 4;
      const junk = Array.from({ length: 4_400 * seconds }, (_, i) => ({
        bytes: seal(bogus, 'junk', sources[i % 240] as string, i + 1),
        from: sources[i % 240] as string,
      }));
      const clean = parseKeyPair((fwknopUsers[0] as FwknopKeysB64).key, (fwknopUsers[0] as FwknopKeysB64).hmacKey) as FwknopKeys;
      const m = s.daemon.mark();
      // 44 packets every 10 ms.
      const flood = sendMany(net, s.site.dir, junk, 44, 10);
      await sleep(500);
      for (let i = 0; i < 14; i++) {
        await sendUdp(net, net.cli, host, SPA_PORT, seal(clean, 'u0', net.clientV4, 1_000_000 + i));
        await sleep(150);
      }
      await flood;
      await sleep(500);
      const knocks = s.daemon.events('knock', m).filter((l) => l.user === 'u0');
      const summary = s.daemon
        .events('reject-suppressed', m)
        .map((l) => JSON.stringify(l.reasons))
        .join(' ');
      const refused = s.daemon.events('reject', m).filter((l) => l.source === net.clientV4);
      assert.equal(
        knocks.length,
        14,
        `all 14 clean knocks accepted; refused from the clean source: ${JSON.stringify(refused)}; suppressed: ${summary}`,
      );
    }),
  );

  await t.test('(10) firewall tools are not taken from the inherited PATH: a fake iptables-restore first on it never runs', (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      const bin = mkdtempSync(join(tmpdir(), 'knockspa-fakepath-'));
      t.after(() => rmSync(bin, { recursive: true, force: true }));
      const marker = join(bin, 'ran');
      for (const name of ['iptables-restore', 'ip6tables-restore', 'iptables', 'ip6tables', 'nft']) {
        writeFileSync(join(bin, name), `#!/bin/sh\necho "$0 $*" >> ${marker}\nexit 0\n`);
        chmodSync(join(bin, name), 0o755);
      }
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
      const d = await startDaemon(net, s.site.configPath, { env });
      t.after(() => d.stop('SIGTERM', 3_000));
      const tools = d.start.tools as Record<string, string>;
      assert.equal(tools['iptables-restore']?.startsWith(bin), false, `resolved outside the fake dir: ${JSON.stringify(tools)}`);
      assert.match(tools['iptables-restore'] ?? '', /^\/(usr\/)?s?bin\/iptables-restore$/, 'logged with its path');
      const m = d.mark();
      await knockOk(net, 'open', ['22'], { host, key: s.site.keyPath('alice'), duration: 3 });
      await d.waitEvent('open', { ip: net.clientV4 }, { since: m });
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT), true, 'the real iptables opened the port');
      await d.waitEvent('close', { why: 'timeout' }, { since: m, timeoutMs: 8_000 });
      assert.equal((await d.stop('SIGTERM')).code, 0);
      assert.equal(existsSync(marker), false, `the fake tools never ran: ${existsSync(marker) ? readFileSync(marker, 'utf8') : ''}`);
    }),
  );
});
