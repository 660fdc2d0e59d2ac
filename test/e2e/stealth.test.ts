/**
 * Stealth, with packets captured by tcpdump:
 * - pcap mode, default-drop ruleset: a UDP probe, a garbage datagram and a TCP SYN to the SPA port
 *   get what the same probes to another dropped port get (nothing), with and without the daemon;
 * - udp mode: silent while the daemon runs; with it stopped the accepted SPA port answers ICMP
 *   port-unreachable, which an OUTPUT rule hides (README "Stealth");
 * - a junk burst of every kind makes the daemon send nothing at all, in both modes.
 * Each capture window has a control that must show up, so an empty capture means something.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { Capture, fromHostFilter } from '../lab/capture.js';
import type { Family, TestNet } from '../lab/netns.js';
import { sendUdp, tcpConnect, type ConnectOutcome } from '../lab/probes.js';
import { requires } from '../lab/requirements.js';
import { e2eNet, PROTECTED_PORT, withScenario } from '../support/e2e.js';
import { junkPayloads, startFlood, writePayloads, type JunkKind } from '../support/junk.js';
import { craftPacket, makeSite, SPA_PORT, startDaemon, type Daemon } from '../support/knockspa.js';

/** Another port the ruleset drops: what the SPA port must look like. */
const OTHER_PORT = 62202;
/** Accepted, nothing listening: the kernel answers a SYN with RST. The capture's control. */
const CONTROL_PORT = 9;

/**
 * Default-drop INPUT (loopback, established and ICMPv6 allowed), the control port accepted, the SPA
 * port accepted if `acceptSpa` (udp mode); `hideUnreachable` also drops outgoing port-unreachables.
 */
async function defaultDrop(net: TestNet, opts: { acceptSpa: boolean; hideUnreachable?: boolean }): Promise<void> {
  for (const family of [4, 6] as const) {
    const tool = family === 4 ? 'iptables' : 'ip6tables';
    const ipt = (...args: string[]): Promise<unknown> => net.runOk(net.srv, [tool, '-w', ...args]);
    await ipt('-P', 'INPUT', 'ACCEPT');
    await ipt('-F', 'INPUT');
    await ipt('-F', 'OUTPUT');
    await ipt('-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT');
    await ipt('-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
    if (family === 6) await ipt('-A', 'INPUT', '-p', 'ipv6-icmp', '-j', 'ACCEPT');
    await ipt('-A', 'INPUT', '-p', 'tcp', '--dport', String(CONTROL_PORT), '-j', 'ACCEPT');
    if (opts.acceptSpa) await ipt('-A', 'INPUT', '-p', 'udp', '--dport', String(SPA_PORT), '-j', 'ACCEPT');
    await ipt('-P', 'INPUT', 'DROP');
    if (opts.hideUnreachable === true) {
      if (family === 4) await ipt('-A', 'OUTPUT', '-p', 'icmp', '--icmp-type', 'port-unreachable', '-j', 'DROP');
      else await ipt('-A', 'OUTPUT', '-p', 'ipv6-icmp', '--icmpv6-type', 'port-unreachable', '-j', 'DROP');
    }
  }
}

interface ProbeResult {
  /** Packets from the server, other than the control's. */
  readonly answers: string[];
  /** TCP connect outcome per family. */
  readonly tcp: Record<Family, ConnectOutcome>;
}

/**
 * One capture window in the client namespace: an empty UDP datagram, 146 garbage bytes and a TCP
 * SYN to `port`, over IPv4 and IPv6, plus a SYN to the control port, which must be answered.
 */
async function probe(net: TestNet, port: number): Promise<ProbeResult> {
  const capture = await Capture.start(net, net.cli, {
    iface: net.cliIf,
    filter: fromHostFilter(net.serverV4, net.serverV6),
    direction: 'in',
  });
  const tcp = {} as Record<Family, ConnectOutcome>;
  for (const family of [4, 6] as const) {
    const host = family === 4 ? net.serverV4 : net.serverV6;
    await sendUdp(net, net.cli, host, port, new Uint8Array(0));
    await sendUdp(
      net,
      net.cli,
      host,
      port,
      new Uint8Array(randomBytes(146)).map((b, i) => (i === 0 ? b & 0x7f : b)),
    );
    tcp[family] = (await tcpConnect(net, net.cli, host, port, { timeoutMs: 700 })).outcome;
  }
  const control = await tcpConnect(net, net.cli, net.serverV4, CONTROL_PORT, { timeoutMs: 2_000 });
  const lines = await capture.stop();
  const isControl = (l: string): boolean => l.includes(`${net.serverV4}.${CONTROL_PORT} >`);
  assert.equal(control.outcome, 'refused', 'control: a SYN to an accepted closed port is answered with RST');
  assert.ok(lines.some(isControl), `control: the capture saw the RST\n${lines.join('\n')}`);
  return { answers: lines.filter((l) => !isControl(l)), tcp };
}

const SILENT: ProbeResult = { answers: [], tcp: { 4: 'timeout', 6: 'timeout' } };

test('stealth', { timeout: 300_000 }, async (t) => {
  const net = await e2eNet(t, ['tcpdump']);
  if (net === null) return;

  await t.test('pcap mode, default drop: the SPA port answers like any dropped port (nothing), daemon up or down', async (t) => {
    if (!requires(t, ['pcap'])) return;
    await defaultDrop(net, { acceptSpa: false });
    // The daemon's own screen is under test: the capture filter's (kernel_screen) would keep the garbage from it.
    const site = await makeSite(net, { listen: 'pcap', extra: { kernel_screen: false } });
    const down = { spa: await probe(net, SPA_PORT), other: await probe(net, OTHER_PORT) };
    const daemon = await startDaemon(net, site.configPath);
    t.after(() => daemon.stop());
    const ss = await net.runOk(net.srv, ['ss', '-H', '-u', '-l', '-n']);
    assert.ok(!ss.stdout.includes(`:${SPA_PORT}`), `no socket bound on ${SPA_PORT}:\n${ss.stdout}`);
    const m = daemon.mark();
    const up = { spa: await probe(net, SPA_PORT), other: await probe(net, OTHER_PORT) };

    assert.deepEqual(up.spa, up.other, 'daemon running: SPA port and another dropped port get the same');
    assert.deepEqual(up.spa, down.spa, 'the SPA port gets the same with and without the daemon');
    assert.deepEqual(down.other, SILENT, 'and that is nothing at all');
    // The probes did reach the daemon: it read and refused them, saying nothing.
    for (const source of [net.clientV4, net.clientV6]) {
      for (const reason of ['bad-length', 'bad-magic']) {
        assert.ok(
          daemon.events('reject', m).some((l) => l.source === source && l.reason === reason),
          `daemon logged ${reason} from ${source}\n${daemon.describe()}`,
        );
      }
    }
  });

  await t.test('udp mode: silent while the daemon runs; stopped, the ICMP unreachable shows unless OUTPUT drops it', async (t) => {
    await defaultDrop(net, { acceptSpa: true });
    const site = await makeSite(net, { listen: 'udp', address: '::' });
    const daemon = await startDaemon(net, site.configPath);
    t.after(() => daemon.stop());
    const up = { spa: await probe(net, SPA_PORT), other: await probe(net, OTHER_PORT) };
    assert.deepEqual(up.spa, up.other, 'daemon running: the bound SPA port answers like a dropped port');
    assert.deepEqual(up.spa, SILENT);

    await daemon.stop();
    const down = await probe(net, SPA_PORT);
    assert.ok(
      down.answers.some((l) => /udp port 62201 unreachable/.test(l)),
      `IPv4 port-unreachable seen:\n${down.answers.join('\n')}`,
    );
    assert.ok(
      down.answers.some((l) => /ICMP6, destination unreachable/.test(l)),
      `IPv6 port-unreachable seen:\n${down.answers.join('\n')}`,
    );
    assert.deepEqual(down.tcp, SILENT.tcp, 'TCP to the SPA port stays dropped');

    await defaultDrop(net, { acceptSpa: true, hideUnreachable: true });
    t.after(() => defaultDrop(net, { acceptSpa: true })); // OUTPUT back to empty for the next tests
    assert.deepEqual(await probe(net, SPA_PORT), SILENT, 'with port-unreachables dropped on OUTPUT, silent again');
  });

  const JUNK: readonly JunkKind[] = ['random', 'unknown-key', 'bad-tag', 'stale', 'wrong-server'];
  for (const listen of ['udp', 'pcap'] as const) {
    await t.test(`${listen} mode: a junk burst of every kind makes the daemon send nothing`, (t) =>
      // Every kind must reach the daemon: without the capture filter's screen (kernel_screen) in pcap mode.
      withScenario(t, net, { listen, address: '::', extra: { kernel_screen: false } }, async (s) => {
        const keyFile = s.site.keyPath('alice');
        // Kinds interleaved, so the few packets each source gets authenticated cover every kind.
        const payloads: Uint8Array[] = [];
        for (let i = 0; i < 20; i++) {
          for (const kind of JUNK) payloads.push(...junkPayloads(kind, 1, keyFile));
          for (const length of [1, 60, 147, 1200]) payloads.push(new Uint8Array(randomBytes(length)));
        }
        const file = writePayloads(join(s.site.dir, 'junk.hex'), payloads);
        const m = s.daemon.mark();

        const capture = await Capture.start(net, net.srv, {
          iface: net.srvIf,
          filter: fromHostFilter(net.serverV4, net.serverV6),
          direction: 'out',
        });
        const floods = [
          startFlood(net, net.cli, {
            host: net.serverV4,
            port: SPA_PORT,
            payloads: file,
            rate: 2_000,
            count: 3_000,
            sources: [net.clientV4],
          }),
          startFlood(net, net.cli, {
            host: net.serverV6,
            port: SPA_PORT,
            payloads: file,
            rate: 2_000,
            count: 3_000,
            sources: [net.clientV6],
          }),
        ];
        const sent = await Promise.all(floods.map((f) => f.result));
        assert.deepEqual(await capture.stop(), [], 'the server sent no packet during the burst');
        assert.deepEqual(s.daemon.events('open', m), [], 'nothing opened');

        // Control: after a valid knock the service (not the daemon) answers, and the capture sees it.
        // From the second address, which sent no junk.
        const control = await Capture.start(net, net.srv, {
          iface: net.srvIf,
          filter: fromHostFilter(net.serverV4, net.serverV6),
          direction: 'out',
        });
        await sendUdp(net, net.cli, net.serverV4, SPA_PORT, craftPacket({ keyFile }), { localAddress: net.client2V4 });
        await s.daemon.waitEvent('open', { ip: net.client2V4 }, { since: m });
        assert.equal((await tcpConnect(net, net.cli, net.serverV4, PROTECTED_PORT, { localAddress: net.client2V4 })).outcome, 'connected');
        const answered = await control.stop();
        assert.ok(
          answered.some((l) => l.includes(`${net.serverV4}.${PROTECTED_PORT} >`)),
          `control: the service's answer was captured\n${answered.join('\n')}`,
        );

        // Every kind reached the daemon and was refused for its reason (counted in the summary at stop).
        // The burst's authenticated share stays within the daemon-wide budget (2,000 a second), so no
        // source is held back before its HMAC: no over-budget (src/server/intake/auth-budget.ts).
        await s.daemon.stop();
        const seen = countReasons(s.daemon, m);
        for (const reason of ['bad-length', 'bad-magic', 'unknown-key', 'bad-mac', 'stale', 'wrong-server']) {
          assert.ok((seen[reason] ?? 0) > 0, `${reason} among the refusals: ${JSON.stringify(seen)} (sent ${JSON.stringify(sent)})`);
        }
      }),
    );
  }
});

/** Refusals since `since`, by reason: logged one by one plus summed up in reject-suppressed. */
function countReasons(daemon: Daemon, since: number): Record<string, number> {
  const seen: Record<string, number> = {};
  for (const l of daemon.events('reject', since)) seen[String(l.reason)] = (seen[String(l.reason)] ?? 0) + 1;
  for (const l of daemon.events('reject-suppressed', since)) {
    for (const [reason, n] of Object.entries(l.reasons as Record<string, number>)) seen[reason] = (seen[reason] ?? 0) + n;
  }
  return seen;
}
