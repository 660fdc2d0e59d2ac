/**
 * What pcap mode may act on: only what a socket on the SPA port would have been given. Crafted
 * frames carrying valid knocks - to another host's IP or MAC, to multicast or the subnet broadcast,
 * with a bad IPv4 header or UDP checksum, source-routed, VLAN-tagged - and the server's own
 * outgoing knock open nothing; the same knock in a clean frame opens.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ethernet, ipv4Udp, ipv6Udp, macOf, sendFrames } from '../lab/frames.js';
import { sendUdp } from '../lab/probes.js';
import { requires } from '../lab/requirements.js';
import { e2eNet, withScenario } from '../support/e2e.js';
import { craftPacket, SPA_PORT } from '../support/knockspa.js';

test('pcap: frames a socket would never see', { timeout: 120_000 }, async (t) => {
  const net = await e2eNet(t, ['python3']);
  if (net === null) return;
  if (!requires(t, ['pcap'])) return;

  await withScenario(t, net, { listen: 'pcap' }, async (s) => {
    const keyFile = s.site.keyPath('alice');
    const [srvMac, cliMac] = await Promise.all([macOf(net, net.srv, net.srvIf), macOf(net, net.cli, net.cliIf)]);
    const src = net.clientV4;
    const knock = (): Uint8Array => craftPacket({ keyFile });
    const v4 = (o: Partial<Parameters<typeof ipv4Udp>[0]> = {}): number[] =>
      ipv4Udp({ src, dst: net.serverV4, dport: SPA_PORT, payload: knock(), ...o });
    const m = s.daemon.mark();
    const frames: Array<[string, Uint8Array]> = [
      ['unicast to another IP', ethernet(srvMac, cliMac, v4({ dst: '198.18.0.77' }))],
      ['to another MAC', ethernet('02:00:00:00:00:77', cliMac, v4())],
      ['multicast', ethernet('01:00:5e:00:00:05', cliMac, v4({ dst: '224.0.0.5' }))],
      ['subnet broadcast', ethernet('ff:ff:ff:ff:ff:ff', cliMac, v4({ dst: '198.18.0.255' }))],
      ['bad IPv4 header checksum', ethernet(srvMac, cliMac, v4({ badHeaderChecksum: true }))],
      ['bad UDP checksum (IPv4)', ethernet(srvMac, cliMac, v4({ udpChecksum: 'bad' }))],
      [
        'bad UDP checksum (IPv6)',
        ethernet(srvMac, cliMac, ipv6Udp({ src: net.clientV6, dst: net.serverV6, dport: SPA_PORT, payload: knock(), udpChecksum: 'bad' })),
      ],
      // Loose source route via 198.18.0.1 (type 131, length 7, pointer 4), then End of Options.
      ['source-routed', ethernet(srvMac, cliMac, v4({ options: [131, 7, 4, 198, 18, 0, 1, 0] }))],
      ['VLAN 100 (no such interface)', ethernet(srvMac, cliMac, v4(), [100])],
    ];
    for (const [, frame] of frames) await sendFrames(net, net.cli, net.cliIf, [frame]);
    // The server's own outgoing knock, to the client's SPA port.
    await sendUdp(net, net.srv, net.clientV4, SPA_PORT, knock());
    // Control: a clean frame, after the others, opens.
    await sendFrames(net, net.cli, net.cliIf, [ethernet(srvMac, cliMac, v4({ src: net.client2V4 }))]);
    await s.daemon.waitEvent('open', { ip: net.client2V4 }, { since: m });
    assert.deepEqual(
      s.daemon.events('open', m).map((l) => l.ip),
      [net.client2V4],
      `only the clean frame opened (sent: ${frames.map(([n]) => n).join(', ')})`,
    );
    assert.deepEqual(
      s.daemon.events('knock', m).map((l) => l.source),
      [net.client2V4],
      'no other frame reached the pipeline as a knock',
    );
  });
});
