/**
 * One address policy for the packet's source and the knock's allow-ip (issue: "the source address
 * is input too"): a valid knock from a source that can never be a client - unspecified, loopback,
 * multicast, broadcast, subnet broadcast, the server's own address - or for such an allow-ip is
 * refused with a reason, in udp and pcap mode. Crafted frames carry the spoofed sources.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { clientFrames, ipv4Udp, ipv6Udp } from '../lab/frames.js';
import { requires } from '../lab/requirements.js';
import { e2eNet, withScenario, type Scenario } from '../support/e2e.js';
import { craftPacket, SPA_PORT } from '../support/knockspa.js';

const BAD_V4: Record<string, string> = {
  '0.0.0.0': 'source-unspecified',
  '255.255.255.255': 'source-broadcast',
  '127.0.0.1': 'source-loopback',
  '224.0.0.5': 'source-multicast',
  '198.18.0.255': 'source-subnet-broadcast',
  '198.18.0.1': 'source-own-address',
};
const BAD_V6: Record<string, string> = {
  '::': 'source-unspecified',
  '::1': 'source-loopback',
  'ff02::1': 'source-multicast',
  '2001:db8:4b::1': 'source-own-address',
};
const BAD_ALLOW_IP: Record<string, string> = {
  '127.0.0.1': 'allow-ip-loopback',
  '198.18.0.1': 'allow-ip-own-address',
  '198.18.0.255': 'allow-ip-subnet-broadcast',
  '2001:db8:4b::1': 'allow-ip-own-address',
  'fe80::1': 'allow-ip-link-local',
};

/** Reasons the daemon logged for these sources since `since`. */
async function reasonsFor(
  s: Scenario,
  since: number,
  expected: Record<string, string>,
  field: 'source' | 'ip',
): Promise<Record<string, string>> {
  const want = Object.keys(expected).length;
  const seen: Record<string, string> = {};
  for (let i = 0; i < 50 && Object.keys(seen).length < want; i++) {
    for (const l of s.daemon.events('reject', since)) {
      const key = String(field === 'source' ? l.source : l.allowIp);
      if (key in expected) seen[key] = String(l.reason);
    }
    if (Object.keys(seen).length < want) await new Promise((r) => setTimeout(r, 100));
  }
  return seen;
}

test('source policy', { timeout: 180_000 }, async (t) => {
  const net = await e2eNet(t, ['python3']);
  if (net === null) return;

  for (const listen of ['udp', 'pcap'] as const) {
    await t.test(`${listen} mode: knocks from sources that can never be clients are refused with a reason`, async (t) => {
      if (listen === 'pcap' && !requires(t, ['pcap'])) return;
      await withScenario(t, net, { listen, address: '::' }, async (s) => {
        const keyFile = s.site.keyPath('alice');
        const frames = await clientFrames(net);
        const m = s.daemon.mark();
        // The kernel drops the others before any socket sees them (martian sources).
        const v4 = listen === 'pcap' ? BAD_V4 : {};
        const v6 = listen === 'pcap' ? BAD_V6 : { '::': 'source-unspecified', '2001:db8:4b::1': 'source-own-address' };
        await frames.send([
          ...Object.keys(v4).map((src) => ipv4Udp({ src, dst: net.serverV4, dport: SPA_PORT, payload: craftPacket({ keyFile }) })),
          ...Object.keys(BAD_V6).map((src) => ipv6Udp({ src, dst: net.serverV6, dport: SPA_PORT, payload: craftPacket({ keyFile }) })),
        ]);
        const expected = { ...v4, ...v6 };
        assert.deepEqual(await reasonsFor(s, m, expected, 'source'), expected);
        assert.deepEqual(s.daemon.events('open', m), [], 'nothing opened');

        // allow-ip: the same policy, from a real client address.
        await frames.send(
          Object.keys(BAD_ALLOW_IP).map((allowIp) =>
            ipv4Udp({ src: net.clientV4, dst: net.serverV4, dport: SPA_PORT, payload: craftPacket({ keyFile, allowIp }) }),
          ),
        );
        const seen: Record<string, string> = {};
        for (let i = 0; i < 50 && Object.keys(seen).length < Object.keys(BAD_ALLOW_IP).length; i++) {
          for (const l of s.daemon.events('reject', m))
            if (String(l.reason).startsWith('allow-ip-')) seen[String(l.reason)] = String(l.reason);
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.deepEqual(Object.keys(seen).sort(), [...new Set(Object.values(BAD_ALLOW_IP))].sort());
        assert.deepEqual(s.daemon.events('open', m), [], 'nothing opened');

        // Control: the same crafted frame from the client's own address opens.
        await frames.send([ipv4Udp({ src: net.clientV4, dst: net.serverV4, dport: SPA_PORT, payload: craftPacket({ keyFile }) })]);
        await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      });
    });
  }

  await t.test('udp mode, address "::": an IPv6 packet from ::ffff:a.b.c.d never becomes an IPv4 grant', (t) =>
    withScenario(t, net, { listen: 'udp', address: '::' }, async (s) => {
      const keyFile = s.site.keyPath('alice');
      const frames = await clientFrames(net);
      const m = s.daemon.mark();
      const posing = ['127.0.0.1', net.serverV4, '0.0.0.0', '255.255.255.255', '224.0.0.5', '8.8.8.8', net.clientV4];
      await frames.send(
        posing.map((v4) => ipv6Udp({ src: `::ffff:${v4}`, dst: net.serverV6, dport: SPA_PORT, payload: craftPacket({ keyFile }) })),
      );
      // Control, sent after them: a real IPv4 knock opens, so the crafted ones have been handled.
      await frames.send([ipv4Udp({ src: net.client2V4, dst: net.serverV4, dport: SPA_PORT, payload: craftPacket({ keyFile }) })]);
      await s.daemon.waitEvent('open', { ip: net.client2V4 }, { since: m });
      assert.deepEqual(
        s.daemon.events('open', m).map((l) => l.ip),
        [net.client2V4],
        'only the real IPv4 knock opened',
      );
      const refused = s.daemon.events('reject', m).filter((l) => String(l.source).startsWith('::ffff:'));
      assert.deepEqual([...new Set(refused.map((l) => l.reason))], ['source-v4-mapped'], JSON.stringify(refused));
      assert.equal(refused.length, posing.length, 'each was delivered to the IPv6 socket and refused for its source');
    }),
  );
});
