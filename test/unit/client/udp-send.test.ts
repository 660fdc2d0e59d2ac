// The client's datagram sender: the bytes arrive whole, a refused send fails with dgram's error,
// and no socket is left open either way.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { sendDatagram } from '../../../src/client/udp-send.js';

async function listener(type: 'udp4' | 'udp6', address: string): Promise<{ socket: Socket; port: number }> {
  const socket = createSocket(type);
  socket.bind(0, address);
  await once(socket, 'listening');
  return { socket, port: socket.address().port };
}

/** Open UDP sockets of this process, once closes in progress have finished. */
async function openUdpSockets(): Promise<number> {
  await sleep(10);
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
}

for (const [type, address, family] of [
  ['udp4', '127.0.0.1', 4],
  ['udp6', '::1', 6],
] as const) {
  test(`sendDatagram delivers the packet to ${address} whole, and closes its socket`, async () => {
    const { socket, port } = await listener(type, address);
    try {
      const before = await openUdpSockets();
      const packet = Uint8Array.from({ length: 146 }, (_, i) => (i * 7 + family) & 0xff);
      const arrived = once(socket, 'message') as Promise<[Buffer, { address: string }]>;
      await sendDatagram(packet, address, family, port);
      const [bytes, from] = await arrived;
      assert.deepEqual(new Uint8Array(bytes), packet);
      assert.equal(from.address, address);
      assert.equal(await openUdpSockets(), before, 'the sending socket is closed');
    } finally {
      socket.close();
    }
  });
}

test('a send the kernel refuses (an IPv6 address on an IPv4 socket) rejects with EINVAL and leaves no socket open', async () => {
  const before = await openUdpSockets();
  await assert.rejects(sendDatagram(new Uint8Array(8), '::1', 4, 9), { code: 'EINVAL', syscall: 'send' });
  assert.equal(await openUdpSockets(), before, 'no socket left open');
});

test("a bad port is refused with dgram's error, and no socket is left open", async () => {
  for (const port of [0, 70_000, 9.5, -1])
    await assert.rejects(sendDatagram(new Uint8Array(1), '127.0.0.1', 4, port), { code: 'ERR_SOCKET_BAD_PORT' }, `port ${port}`);
  assert.equal(await openUdpSockets(), 0, 'no socket left open');
});
