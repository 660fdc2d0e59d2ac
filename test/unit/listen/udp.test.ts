/**
 * UdpListener on real sockets: 127.0.0.1, ::1 and dual-stack "::" on ephemeral ports,
 * source canonicalisation, bind errors, and that the listener never sends.
 */

import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Datagram } from '../../../src/server/listen/listener.js';
import { RECV_BUFFER_BYTES, UdpListener } from '../../../src/server/listen/udp.js';

/** Every socket that calls send() during these tests; only the tests' own clients may. */
const senders = new Set<dgram.Socket>();
const clients = new Set<dgram.Socket>();
const originalSend = dgram.Socket.prototype.send;

before(() => {
  dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
    senders.add(this);
    return (originalSend as (...a: unknown[]) => void).apply(this, args);
  } as typeof originalSend;
});
after(() => {
  dgram.Socket.prototype.send = originalSend;
});

/** Sends one datagram; resolves with the client's port. */
async function send(type: 'udp4' | 'udp6', host: string, port: number, payload: Uint8Array): Promise<number> {
  const client = dgram.createSocket(type);
  clients.add(client);
  await new Promise<void>((resolve, reject) => client.send(payload, port, host, (err) => (err ? reject(err) : resolve())));
  const clientPort = client.address().port;
  client.close();
  return clientPort;
}

/** A listener on `address`, port 0, collecting datagrams. */
async function listen(address: string): Promise<{ listener: UdpListener; port: number; next: () => Promise<Datagram> }> {
  const listener = new UdpListener({ address, port: 0 });
  const queue: Datagram[] = [];
  let wake: (() => void) | undefined;
  await listener.start((d) => {
    queue.push({ ...d, payload: Uint8Array.from(d.payload) });
    wake?.();
  });
  const port = listener.boundPort;
  assert.ok(port !== null && port > 0);
  const next = async (): Promise<Datagram> => {
    const deadline = setTimeout(() => wake?.(), 2000);
    while (queue.length === 0) {
      const waited = new Promise<void>((resolve) => (wake = resolve));
      await waited;
      if (queue.length === 0) throw new Error('no datagram within 2 s');
    }
    clearTimeout(deadline);
    return queue.shift() as Datagram;
  };
  return { listener, port, next };
}

async function ipv6Available(): Promise<boolean> {
  const s = dgram.createSocket('udp6');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '::1', resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}

describe('UdpListener', () => {
  test('127.0.0.1: delivers payload, source and source port', async () => {
    const { listener, port, next } = await listen('127.0.0.1');
    try {
      assert.equal(listener.description, `udp 127.0.0.1:${port}`);
      const payload = Uint8Array.from([0xcb, 1, 2, 3]);
      const clientPort = await send('udp4', '127.0.0.1', port, payload);
      const d = await next();
      assert.deepEqual(d.payload, payload);
      assert.equal(d.source, '127.0.0.1');
      assert.equal(d.sourcePort, clientPort);
    } finally {
      await listener.close();
    }
    assert.equal(listener.boundPort, null);
  });

  test('::1: IPv6 source in canonical form', async (t) => {
    if (!(await ipv6Available())) return t.skip('no IPv6 loopback on this host');
    const { listener, port, next } = await listen('::1');
    try {
      assert.equal(listener.description, `udp [::1]:${port}`);
      const clientPort = await send('udp6', '::1', port, Uint8Array.from([9, 8, 7]));
      const d = await next();
      assert.deepEqual(d.payload, Uint8Array.from([9, 8, 7]));
      assert.equal(d.source, '::1');
      assert.equal(d.sourcePort, clientPort);
    } finally {
      await listener.close();
    }
  });

  test('"::" is IPv6 and IPv4 on one port, as two sockets: an IPv4 packet has an IPv4 source', async (t) => {
    if (!(await ipv6Available())) return t.skip('no IPv6 loopback on this host');
    const { listener, port, next } = await listen('::');
    try {
      await send('udp4', '127.0.0.1', port, Uint8Array.from([4]));
      assert.equal((await next()).source, '127.0.0.1');
      await send('udp6', '::1', port, Uint8Array.from([6]));
      assert.equal((await next()).source, '::1');
    } finally {
      await listener.close();
    }
    // Both sockets released: the port can be bound again by either family.
    const again = await listen('::');
    await again.listener.close();
  });

  test('asks for a receive buffer of RECV_BUFFER_BYTES, as far as net.core.rmem_max allows', async () => {
    const { listener } = await listen('127.0.0.1');
    try {
      const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
      // Linux reports twice what was set (bookkeeping overhead), capped at twice rmem_max.
      assert.equal(listener.recvBufferBytes, 2 * Math.min(RECV_BUFFER_BYTES, rmemMax));
    } finally {
      await listener.close();
    }
    assert.equal(listener.recvBufferBytes, null);
  });

  test('port conflict: one-line error naming the endpoint and the cause', async () => {
    const { listener, port } = await listen('127.0.0.1');
    try {
      const second = new UdpListener({ address: '127.0.0.1', port });
      await assert.rejects(
        second.start(() => undefined),
        {
          message: `cannot bind UDP 127.0.0.1:${port}: EADDRINUSE (another process has the port)`,
        },
      );
      await second.close(); // harmless after a failed start
    } finally {
      await listener.close();
    }
  });

  test('an address that is not local, and one that is not an address', async () => {
    await assert.rejects(
      new UdpListener({ address: '192.0.2.55', port: 0 }).start(() => undefined),
      {
        message: 'cannot bind UDP 192.0.2.55:0: EADDRNOTAVAIL (no local interface has that address)',
      },
    );
    await assert.rejects(
      new UdpListener({ address: 'localhost', port: 62201 }).start(() => undefined),
      {
        message: 'cannot bind UDP localhost:62201: not an IP address',
      },
    );
  });

  test('start twice is refused; close twice is harmless', async () => {
    const { listener } = await listen('127.0.0.1');
    await assert.rejects(
      listener.start(() => undefined),
      /already started/,
    );
    await listener.close();
    await listener.close();
  });

  test('the listener itself never sent anything', () => {
    for (const socket of senders) assert.ok(clients.has(socket), 'a socket other than a test client called send()');
    assert.ok(senders.size > 0, 'the send() spy saw the clients');
  });
});
