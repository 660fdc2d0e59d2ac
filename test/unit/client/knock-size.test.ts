// The client's knock never needs fragmenting (#23 item 5: pcap mode cannot see fragments): whatever
// it carries, the datagram the client hands to the socket is one fixed size that fits whole in the
// 576-byte datagram every IPv4 host accepts (RFC 791) and the 1280-byte IPv6 minimum MTU (RFC 8200 §5).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { sendKnock } from '../../../src/client/knock.js';
import { newUserKey } from '../../../src/protocol/keys.js';
import type { PortSpec } from '../../../src/protocol/ports.js';

const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const UDP_HEADER = 8;

test('every knock the client sends fits whole in the smallest datagram IPv4 and IPv6 must carry', async () => {
  const key = newUserKey({
    user: 'a-rather-long-user-name',
    serverId: 'server.example',
    created: '2026-12-05',
    random: (n) => new Uint8Array(randomBytes(n)),
  });
  const many: PortSpec[] = Array.from({ length: 8 }, (_, i) => ({ proto: i % 2 === 0 ? 'tcp' : 'udp', port: 65535 - i }));
  const sizes = new Set<number>();
  for (const [ports, allowIp, target] of [
    [[{ proto: 'tcp', port: 22 }], null, '192.0.2.1'],
    [many, '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db8::1'],
    [many, '203.0.113.255', '192.0.2.1'],
  ] as const) {
    let sent: Uint8Array | undefined;
    await sendKnock(
      key,
      { action: 'open', ports: [...ports], allowIp, durationSec: 86_400 },
      { host: target, spaPort: 62201 },
      undefined,
      async (packet) => {
        sent = packet;
      },
    );
    assert.ok(sent !== undefined);
    sizes.add(sent.length);
    assert.ok(IPV4_HEADER + UDP_HEADER + sent.length <= 576, `${sent.length} bytes over IPv4`);
    assert.ok(IPV6_HEADER + UDP_HEADER + sent.length <= 1280, `${sent.length} bytes over IPv6`);
  }
  assert.deepEqual([...sizes], [146], 'one fixed size, whatever the knock carries');
});
