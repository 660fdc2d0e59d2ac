/**
 * What pcap mode cannot see (#23 item 5), shown to be the documented limit and nothing worse:
 * valid knocks in frames the kernel accepts - fragmented (IPv4, IPv6), behind IPv6 extension
 * headers (hop-by-hop, destination options, an atomic fragment), VLAN-tagged with one tag or two
 * (QinQ) for VLANs the server has interfaces for - each open in udp mode, where the kernel
 * reassembles, walks and untags them; in pcap mode none opens, nothing reaches the pipeline and
 * nothing is logged as an error, while a clean frame sent after them opens.
 *
 * A kernel built without 802.1Q (CONFIG_VLAN_8021Q) makes no VLAN interfaces and drops tagged
 * frames itself: there the udp half of the VLAN cases is skipped (visibly, with the reason), and
 * the pcap half sends them to the parent interface's own address, so only the tags can stop them.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import {
  ethernet,
  ipv4Udp,
  ipv4UdpFragments,
  ipv6Udp,
  ipv6UdpFragments,
  ipv6UdpWith,
  macOf,
  sendFrames,
  type Ipv6Extension,
} from '../lab/frames.js';
import type { TestNet } from '../lab/netns.js';
import { sleep } from '../lab/process.js';
import { e2eNet, withScenario, type Scenario } from '../support/e2e.js';
import { craftPacket, SPA_PORT } from '../support/knockspa.js';

/** Server-side VLAN interfaces (names are per namespace): one 802.1Q VLAN, and 802.1Q 200 inside 802.1ad 100. */
const VLAN = { id: 300, ifname: 'v300', server: '10.78.0.1', source: '10.78.0.2' };
const QINQ = { outer: 100, inner: 200, outerIf: 'q100', ifname: 'q100.200', server: '10.77.0.1', source: '10.77.0.2' };

interface Case {
  readonly name: string;
  /** Needs the server's VLAN interfaces to reach a socket. */
  readonly vlan: boolean;
  /** The knock's source address: what a grant opens for, so each case is told apart by it. */
  readonly source: string;
  /** The frames carrying one fresh knock. */
  frames(knock: Uint8Array): Uint8Array[];
}

/** Makes the server's VLAN interfaces; false if this kernel has no VLAN support. */
async function addVlans(net: TestNet): Promise<boolean> {
  const ip = (...args: string[]): Promise<unknown> => net.runOk(net.srv, ['ip', ...args]);
  const first = ['link', 'add', 'link', net.srvIf, 'name', VLAN.ifname, 'type', 'vlan', 'proto', '802.1Q', 'id', String(VLAN.id)];
  const r = await net.run(net.srv, ['ip', ...first]);
  if (r.code !== 0 && /Unknown device type/.test(r.stderr)) return false;
  if (r.code !== 0) throw new Error(`ip ${first.join(' ')}: exit ${r.code} ${r.stderr}`);
  await ip('link', 'add', 'link', net.srvIf, 'name', QINQ.outerIf, 'type', 'vlan', 'proto', '802.1ad', 'id', String(QINQ.outer));
  await ip('link', 'add', 'link', QINQ.outerIf, 'name', QINQ.ifname, 'type', 'vlan', 'proto', '802.1Q', 'id', String(QINQ.inner));
  await ip('addr', 'add', `${VLAN.server}/24`, 'dev', VLAN.ifname);
  await ip('addr', 'add', `${QINQ.server}/24`, 'dev', QINQ.ifname);
  for (const dev of [VLAN.ifname, QINQ.outerIf, QINQ.ifname]) await ip('link', 'set', dev, 'up');
  return true;
}

function cases(net: TestNet, srvMac: string, cliMac: string, vlans: boolean): Case[] {
  const eth = (packet: readonly number[], vlans: readonly number[] = [], outerTpid?: number): Uint8Array =>
    ethernet(srvMac, cliMac, packet, vlans, outerTpid);
  const v6 = (source: string, knock: Uint8Array) => ({ src: source, dst: net.serverV6, dport: SPA_PORT, payload: knock });
  const ext = (name: string, source: string, extensions: Ipv6Extension[]): Case => ({
    name,
    vlan: false,
    source,
    frames: (knock) => [eth(ipv6UdpWith(v6(source, knock), extensions))],
  });
  return [
    {
      name: 'IPv4, in two fragments',
      vlan: false,
      source: '198.18.0.21',
      frames: (knock) =>
        ipv4UdpFragments({ src: '198.18.0.21', dst: net.serverV4, dport: SPA_PORT, payload: knock }, 80).map((p) => eth(p)),
    },
    {
      name: 'IPv6, in two fragments',
      vlan: false,
      source: '2001:db8:4b::21',
      frames: (knock) => ipv6UdpFragments(v6('2001:db8:4b::21', knock), 80).map((p) => eth(p)),
    },
    ext('IPv6 with a hop-by-hop options header', '2001:db8:4b::22', ['hop-by-hop']),
    ext('IPv6 with a destination options header', '2001:db8:4b::23', ['destination-options']),
    ext('IPv6 as an atomic fragment', '2001:db8:4b::24', ['atomic-fragment']),
    {
      name: `802.1Q VLAN ${VLAN.id} (the server has ${VLAN.ifname})`,
      vlan: true,
      source: VLAN.source,
      frames: (knock) => [
        eth(ipv4Udp({ src: VLAN.source, dst: vlans ? VLAN.server : net.serverV4, dport: SPA_PORT, payload: knock }), [VLAN.id]),
      ],
    },
    {
      name: `double-tagged: 802.1ad ${QINQ.outer}, 802.1Q ${QINQ.inner} (the server has ${QINQ.ifname})`,
      vlan: true,
      source: QINQ.source,
      frames: (knock) => [
        eth(
          ipv4Udp({ src: QINQ.source, dst: vlans ? QINQ.server : net.serverV4, dport: SPA_PORT, payload: knock }),
          [QINQ.outer, QINQ.inner],
          0x88a8,
        ),
      ],
    },
  ];
}

test('pcap mode cannot see these frames; udp mode accepts them', { timeout: 180_000 }, async (t) => {
  const net = await e2eNet(t, ['python3']);
  if (net === null) return;
  const vlans = await addVlans(net);
  const [srvMac, cliMac] = await Promise.all([macOf(net, net.srv, net.srvIf), macOf(net, net.cli, net.cliIf)]);
  const all = cases(net, srvMac, cliMac, vlans);
  const noVlans = 'this kernel has no 802.1Q support (CONFIG_VLAN_8021Q): no VLAN interface, tagged frames dropped by the kernel';
  const send = async (s: Scenario, c: Case): Promise<void> =>
    sendFrames(net, net.cli, net.cliIf, c.frames(craftPacket({ keyFile: s.site.keyPath('alice') })));

  await t.test('udp mode: the kernel reassembles, walks the headers, untags; each knock opens', (t) =>
    withScenario(t, net, { listen: 'udp', address: '::' }, async (s) => {
      const shown = all.filter((c) => vlans || !c.vlan);
      for (const c of shown)
        await t.test(c.name, async () => {
          const m = s.daemon.mark();
          await send(s, c);
          const open = await s.daemon.waitEvent('open', { ip: c.source }, { since: m, timeoutMs: 10_000 });
          assert.equal(open.user, 'alice', c.name);
        });
      // Without 802.1Q the kernel drops tagged frames before any socket: udp mode cannot see them either.
      for (const c of all.filter((c) => !shown.includes(c)))
        await t.test(`${c.name}: ${noVlans}, so udp mode does not see it either`, async () => {
          const m = s.daemon.mark();
          await send(s, c);
          await sleep(1_000);
          assert.deepEqual(s.daemon.events('knock', m), [], `${c.name}: nothing reached the daemon`);
        });
      assert.deepEqual(
        s.daemon.events('knock').map((l) => l.source),
        shown.map((c) => c.source),
        'one knock per case, from its source',
      );
    }),
  );

  await t.test('pcap mode: none opens, none reaches the pipeline, nothing is logged as an error; clean frames after them open', (t) =>
    withScenario(t, net, { listen: 'pcap' }, async (s) => {
      const m = s.daemon.mark();
      for (const c of all) await send(s, c);
      // Controls, after the others: a clean frame of each family opens, so the capture was live.
      const keyFile = s.site.keyPath('alice');
      const control4 = ipv4Udp({ src: net.client2V4, dst: net.serverV4, dport: SPA_PORT, payload: craftPacket({ keyFile }) });
      const control6 = ipv6Udp({ src: net.client2V6, dst: net.serverV6, dport: SPA_PORT, payload: craftPacket({ keyFile }) });
      await sendFrames(net, net.cli, net.cliIf, [ethernet(srvMac, cliMac, control4), ethernet(srvMac, cliMac, control6)]);
      await s.daemon.waitEvent('open', { ip: net.client2V4 }, { since: m, timeoutMs: 10_000 });
      await s.daemon.waitEvent('open', { ip: net.client2V6 }, { since: m, timeoutMs: 10_000 });
      assert.deepEqual(
        s.daemon
          .events('open', m)
          .map((l) => l.ip)
          .sort(),
        [net.client2V4, net.client2V6].sort(),
        `only the controls opened (not seen: ${all.map((c) => c.name).join('; ')})`,
      );
      assert.deepEqual(
        s.daemon
          .events('knock', m)
          .map((l) => l.source)
          .sort(),
        [net.client2V4, net.client2V6].sort(),
        'no other frame reached the pipeline',
      );
      const loud = s.daemon.log.slice(m).filter((l) => l.level === 'error' || l.level === 'fatal' || l.level === 'warn');
      assert.deepEqual(loud, [], 'nothing logged above info');
    }),
  );
});
