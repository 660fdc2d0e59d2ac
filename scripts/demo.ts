/**
 * `npm run demo`: the knockspa story told with the real thing.
 *
 * As root on Linux: a client and a server network namespace (test/lab/netns.ts), a TCP service
 * on port 22 behind a DROP rule, and the real daemon changing the real firewall of the server
 * namespace, step by step. Nothing outside those two namespaces is touched, and everything is
 * removed at the end, also on Ctrl-C or failure.
 *
 * Without root (or with --dry-run): the same story on 127.0.0.1 with firewall = "dry-run"; the
 * daemon logs the firewall changes it would make.
 *
 * Exits 0 when every step behaved as described, 1 otherwise: the demo is also a check.
 * @module
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestNet } from '../test/lab/netns.js';
import { sendUdp, startTcpService, tcpConnect } from '../test/lab/probes.js';
import { NODE, NsProcess, run, type LogLine } from '../test/lab/process.js';
import { NETNS_TOOLS, netnsUnavailableReason, unmetNeeds } from '../test/lab/requirements.js';
import { baseRuleset, iptablesRules } from '../test/lab/ruleset.js';
import { CLI, JUMP_RULE, keygen, knockspaChain, toToml, type ServerConfigInput } from '../test/support/knockspa.js';

/** The demo's max_skew: a fresh daemon refuses knocks for that long after its first start. */
const DEMO_SKEW_SEC = 5;

/** A daemon started without saved state cannot vouch for packets stamped before start + max_skew: the demo waits that out. */
async function waitOutFirstStart(start: LogLine): Promise<void> {
  step(
    'A first start',
    `The daemon has no saved replay cache yet, so for max_skew seconds (${DEMO_SKEW_SEC} here, 30 by default) it refuses\n` +
      'every knock: it cannot tell a fresh knock from one recorded before it started. The demo waits that out.',
  );
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(String(start.time)) + DEMO_SKEW_SEC * 1000 + 100 - Date.now())));
}

const SERVER_ID = 'demo.knockspa';
const PORT = 22;
const tty = process.stdout.isTTY === true;
const bold = (s: string): string => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const green = (s: string): string => (tty ? `\x1b[32m${s}\x1b[0m` : s);
const red = (s: string): string => (tty ? `\x1b[31m${s}\x1b[0m` : s);
const dim = (s: string): string => (tty ? `\x1b[2m${s}\x1b[0m` : s);

let stepNo = 0;
let failures = 0;

function step(title: string, explanation: string): void {
  stepNo++;
  console.log(`\n${bold(`${stepNo}. ${title}`)}`);
  for (const line of explanation.split('\n')) console.log(`   ${line}`);
}

function show(lines: string[] | string, prefix = '   | '): void {
  for (const line of Array.isArray(lines) ? lines : lines.split('\n')) if (line.trim() !== '') console.log(dim(`${prefix}${line}`));
}

function expect(ok: boolean, what: string): void {
  if (ok) console.log(`   ${green('ok')}   ${what}`);
  else {
    failures++;
    console.log(`   ${red('FAIL')} ${what}`);
  }
}

function logLine(l: LogLine): string {
  const { level: _level, time: _time, msg: _msg, ...rest } = l;
  return JSON.stringify(rest);
}

/** The packet the client wrote with --dump-packet; undefined, and a failed check, if there is none. */
function dumpedPacket(dump: string): Uint8Array | undefined {
  try {
    return new Uint8Array(readFileSync(dump));
  } catch {
    expect(false, `the client wrote the packet it sent to ${dump} (--dump-packet)`);
    return undefined;
  }
}

async function within<T>(p: Promise<T>, what: string): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    expect(false, `${what}: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// As root: namespaces and the real firewall

async function realDemo(): Promise<void> {
  console.log(bold('knockspa demo: two network namespaces, a real firewall, the real daemon'));
  const net = await TestNet.create();
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-demo-'));
  net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  let daemon: NsProcess | undefined;
  try {
    const host = net.serverV4;
    const acceptLines = async (): Promise<string[]> => knockspaChain(net, 4);
    const showRules = async (): Promise<void> => {
      const rules = await iptablesRules(net, net.srv, 4);
      show(
        rules.map((r) => (r === JUMP_RULE ? `${r}    <- knockspa's chain` : r)),
        '   iptables -S INPUT | ',
      );
      const mine = await knockspaChain(net, 4);
      if (mine.length > 0)
        show(
          mine.map((r) => `${r}    <- knockspa`),
          '   iptables -S KNOCKSPA | ',
        );
    };

    step(
      'The network',
      `Server namespace ${net.srv} (${net.serverV4}, ${net.serverV6}) and client namespace ${net.cli}\n` +
        `(${net.clientV4}, ${net.clientV6}), joined by a veth pair. A TCP service listens on port ${PORT} in the\n` +
        `server namespace, behind a ruleset that drops new connections to it (DROP, not REJECT: to the\n` +
        `outside the port looks like nothing is there).`,
    );
    await baseRuleset(net, PORT, { spaPort: 62201, udpMode: true });
    await startTcpService(net, PORT);
    await showRules();

    step('Knocking on a closed door', `The client tries to connect to ${host}:${PORT}. The SYN is dropped, so it just times out.`);
    const first = await tcpConnect(net, net.cli, host, PORT, { timeoutMs: 1_000 });
    show(`connect ${host}:${PORT} -> ${first.outcome}`);
    expect(first.outcome === 'timeout', 'the connection attempt timed out (dropped)');

    step('A key for alice', "keygen makes a per-user secret. The same file goes on the server (keys/alice.key) and on alice's machine.");
    const keysDir = join(dir, 'keys');
    mkdirSync(keysDir, { mode: 0o700 });
    const kg = await run(null, [NODE, CLI, 'keygen', '--user', 'alice', '--out', keysDir, '--server-id', SERVER_ID]);
    show(kg.stdout.split('\n').slice(0, 1));
    expect(kg.code === 0, 'knockspa keygen --user alice');
    const key = join(keysDir, 'alice.key');

    step('Start the daemon', 'It listens on UDP 62201, never answers, and changes the firewall only for a valid packet.');
    const config: ServerConfigInput = {
      listen: 'udp',
      address: '0.0.0.0',
      port: 62201,
      firewall: 'iptables',
      server_id: SERVER_ID,
      keys_dir: 'keys',
      state_dir: 'state',
      max_skew: DEMO_SKEW_SEC,
      default_duration: 30,
      users: { alice: { ports: ['tcp/22'], max_duration: 300 } },
    };
    const configPath = join(dir, 'server.toml');
    writeFileSync(configPath, toToml(config));
    show(readFileSync(configPath, 'utf8'), '   server.toml | ');
    daemon = net.spawnIn(net.srv, [NODE, CLI, 'server', '--config', configPath]);
    const start = await within(
      daemon.waitForJson((l) => l.event === 'start', { timeoutMs: 15_000 }),
      'daemon start',
    );
    if (start === undefined) {
      show(daemon.describe());
      return;
    }
    show(logLine(start), '   log | ');
    expect(true, 'daemon listening');
    await waitOutFirstStart(start);

    step('The knock', `alice sends one encrypted, signed UDP packet: "open port ${PORT} for me".`);
    const dump = join(dir, 'open-knock.bin');
    let m = daemon.mark();
    const k = await run(net.cli, [NODE, CLI, 'open', String(PORT), '--host', host, '--key', key, '--dump-packet', dump]);
    show(`$ knockspa open ${PORT} --host ${host} --key keys/alice.key   (exit ${k.code})`);
    show([k.stdout, k.stderr].join('\n'));
    const opened = await within(
      daemon.waitForJson((l) => l.event === 'open', { since: m, timeoutMs: 5_000 }),
      'grant opened',
    );
    for (const l of daemon.json.slice(m)) show(logLine(l), '   log | ');
    expect(opened !== undefined, 'the daemon accepted the knock and opened the port');
    await showRules();
    expect((await acceptLines()).length === 1, "one ACCEPT rule, for alice's address only");

    step('Connected', 'Now the same connection attempt goes through.');
    const second = await tcpConnect(net, net.cli, host, PORT, { timeoutMs: 1_000 });
    show(`connect ${host}:${PORT} -> ${second.outcome}${second.detail !== undefined ? ` (service says "${second.detail}")` : ''}`);
    expect(second.outcome === 'connected', 'connected to the service');

    step('Close it again', 'A close knock removes the rule before its time is up (it would go by itself after 30 s).');
    m = daemon.mark();
    const c = await run(net.cli, [NODE, CLI, 'close', String(PORT), '--host', host, '--key', key]);
    show(`$ knockspa close ${PORT} --host ${host} --key keys/alice.key   (exit ${c.code})`);
    const closed = await within(
      daemon.waitForJson((l) => l.event === 'close', { since: m, timeoutMs: 5_000 }),
      'grant closed',
    );
    for (const l of daemon.json.slice(m)) show(logLine(l), '   log | ');
    expect(closed !== undefined, 'the daemon closed the grant');
    await showRules();
    expect((await acceptLines()).length === 0, 'no ACCEPT rule left');
    const third = await tcpConnect(net, net.cli, host, PORT, { timeoutMs: 1_000 });
    show(`connect ${host}:${PORT} -> ${third.outcome}`);
    expect(third.outcome === 'timeout', 'dropped again');

    step('A replayed knock', "Someone on the path recorded alice's open knock and sends the exact same bytes again.");
    const bytes = dumpedPacket(dump);
    if (bytes !== undefined) {
      m = daemon.mark();
      await sendUdp(net, net.cli, host, 62201, bytes);
      show(`sent the ${bytes.length} recorded bytes to ${host}:62201`);
      const rej = await within(
        daemon.waitForJson((l) => l.event === 'reject', { since: m, timeoutMs: 5_000 }),
        'replay rejected',
      );
      for (const l of daemon.json.slice(m)) show(logLine(l), '   log | ');
      expect(rej?.reason === 'replay', 'rejected as a replay');
      await showRules();
      expect((await acceptLines()).length === 0, 'still no ACCEPT rule');
      const fourth = await tcpConnect(net, net.cli, host, PORT, { timeoutMs: 1_000 });
      show(`connect ${host}:${PORT} -> ${fourth.outcome}`);
      expect(fourth.outcome === 'timeout', 'still dropped');
    }

    step('Stop', 'SIGTERM: the daemon closes whatever is still open and exits; then the namespaces are removed.');
    m = daemon.mark();
    const exit = await daemon.stop('SIGTERM', 5_000);
    for (const l of daemon.json.slice(m)) show(logLine(l), '   log | ');
    expect(exit.code === 0, `daemon exited ${exit.code ?? exit.signal}`);
  } finally {
    if (daemon !== undefined && !daemon.exited) await daemon.stop('SIGTERM', 3_000);
    await net.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Without root: 127.0.0.1 and firewall = "dry-run"

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function dryRunDemo(why: string): Promise<void> {
  console.log(bold('knockspa demo, dry-run edition'));
  console.log(`(${why}: no namespaces and no firewall changes. The daemon runs on 127.0.0.1 with firewall = "dry-run"`);
  console.log(' and logs the firewall changes it would make. For the real thing: sudo npm run demo)');
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-demo-'));
  let daemon: NsProcess | undefined;
  const cleanup = (): void => {
    daemon?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const host = '127.0.0.1';
    const spaPort = await freeUdpPort();
    const wouldRun = (since: number): string[] =>
      (daemon as NsProcess).json
        .slice(since)
        .filter((l) => l.event === 'dry-run')
        .map((l) => `${String(l.op)} ${String(l.ip)} ${String(l.proto)}/${String(l.port)}`);

    step('A key for alice', "keygen makes a per-user secret, shared by the server and alice's machine.");
    const keysDir = join(dir, 'keys');
    mkdirSync(keysDir, { mode: 0o700 });
    const key = await keygen(keysDir, 'alice', SERVER_ID).catch((e: Error) => {
      expect(false, e.message);
      return undefined;
    });
    if (key === undefined) return;
    expect(true, `knockspa keygen --user alice -> ${key}`);

    step('Start the daemon', `UDP ${host}:${spaPort}, firewall = "dry-run".`);
    const configPath = join(dir, 'server.toml');
    writeFileSync(
      configPath,
      toToml({
        listen: 'udp',
        address: host,
        port: spaPort,
        firewall: 'dry-run',
        server_id: SERVER_ID,
        keys_dir: 'keys',
        state_dir: 'state',
        max_skew: DEMO_SKEW_SEC,
        default_duration: 30,
        users: { alice: { ports: ['tcp/22'], max_duration: 300 } },
      }),
    );
    daemon = new NsProcess(null, [NODE, CLI, 'server', '--config', configPath]);
    const start = await within(
      daemon.waitForJson((l) => l.event === 'start', { timeoutMs: 15_000 }),
      'daemon start',
    );
    if (start === undefined) {
      show(daemon.describe());
      return;
    }
    show(logLine(start), '   log | ');
    await waitOutFirstStart(start);

    step('The knock', `alice sends one encrypted, signed UDP packet: "open port ${PORT} for me".`);
    const dump = join(dir, 'open-knock.bin');
    let m = daemon.mark();
    const k = await run(null, [
      NODE,
      CLI,
      'open',
      String(PORT),
      '--host',
      host,
      '--key',
      key,
      '--spa-port',
      String(spaPort),
      '--dump-packet',
      dump,
    ]);
    show(`$ knockspa open ${PORT} --host ${host} --spa-port ${spaPort}   (exit ${k.code})`);
    const opened = await within(
      daemon.waitForJson((l) => l.event === 'open', { since: m, timeoutMs: 5_000 }),
      'grant opened',
    );
    for (const l of daemon.json.slice(m)) show(logLine(l), '   log | ');
    const openCmds = wouldRun(m);
    show(openCmds.map((c) => `would ${c}`));
    expect(opened !== undefined && openCmds.includes('add 127.0.0.1 tcp/22'), 'would let 127.0.0.1 in to tcp/22');

    step('Close it again', 'A close knock removes the rule before its time is up.');
    m = daemon.mark();
    await run(null, [NODE, CLI, 'close', String(PORT), '--host', host, '--key', key, '--spa-port', String(spaPort)]);
    const closed = await within(
      daemon.waitForJson((l) => l.event === 'close', { since: m, timeoutMs: 5_000 }),
      'grant closed',
    );
    for (const l of daemon.json.slice(m)) show(logLine(l), '   log | ');
    const closeCmds = wouldRun(m);
    show(closeCmds.map((c) => `would ${c}`));
    expect(closed !== undefined && closeCmds.includes('remove 127.0.0.1 tcp/22'), 'would take the grant out again');

    step('A replayed knock', 'The exact bytes of the open knock, sent again.');
    const bytes = dumpedPacket(dump);
    if (bytes !== undefined) {
      m = daemon.mark();
      const sock = createSocket('udp4');
      await new Promise<void>((resolve, reject) => sock.send(bytes, spaPort, host, (e) => (e ? reject(e) : resolve())));
      sock.close();
      const rej = await within(
        daemon.waitForJson((l) => l.event === 'reject', { since: m, timeoutMs: 5_000 }),
        'replay rejected',
      );
      for (const l of daemon.json.slice(m)) show(logLine(l), '   log | ');
      expect(rej?.reason === 'replay', 'rejected as a replay');
      expect(wouldRun(m).length === 0 && daemon.json.slice(m).every((l) => l.event !== 'open'), 'nothing would be opened');
    }

    step('Stop', 'SIGTERM: the daemon closes whatever is still open and exits.');
    const exit = await daemon.stop('SIGTERM', 5_000);
    expect(exit.code === 0, `daemon exited ${exit.code ?? exit.signal}`);
  } finally {
    if (daemon !== undefined && !daemon.exited) await daemon.stop('SIGTERM', 3_000);
    cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

async function main(): Promise<number> {
  const forceDryRun = process.argv.includes('--dry-run');
  const why = forceDryRun ? '--dry-run given' : (netnsUnavailableReason() ?? unmetNeeds(NETNS_TOOLS));
  try {
    if (why === null) await realDemo();
    else await dryRunDemo(why === 'not root' ? 'not running as root' : why);
  } catch (err) {
    failures++;
    console.log(`\n${red('demo aborted:')} ${(err as Error).stack ?? String(err)}`);
  }
  console.log(
    failures === 0 ? `\n${green('All steps behaved as described.')}` : `\n${red(`${failures} step(s) did not behave as described.`)}`,
  );
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
