/**
 * PcapListener: with a fake node_pcap (option handling, caplen, link types, load errors), and
 * live on "lo"/"any" as root. Live tests declare their needs (test/lab/requirements.ts): they skip
 * without root or the pcap module, except under CI=true, where a skip would hide a broken capture
 * path and fails instead.
 */

import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { describe, test } from 'node:test';
import type { Datagram } from '../../../src/server/listen/listener.js';
import { PCAP_MISSING, PcapListener, type PcapModule } from '../../../src/server/listen/pcap.js';
import { requires, type Need } from '../../lab/requirements.js';
import { DPORT, ETHERTYPE_IPV4, PAYLOAD, ethernet, ipv4 } from './frames.js';

// --- with a fake node_pcap -------------------------------------------------------------------

class FakeSession extends EventEmitter {
  closed = false;
  constructor(readonly link_type: string) {
    super();
  }
  close(): void {
    this.closed = true;
    this.removeAllListeners();
  }
  /** What node_pcap does: copy into its reused snap_length buffer, caplen at header offset 8. */
  deliver(frame: Uint8Array): void {
    const buf = Buffer.alloc(512, 0xee);
    buf.set(frame);
    const header = Buffer.alloc(16);
    if (endianness() === 'LE') header.writeUInt32LE(frame.length, 8);
    else header.writeUInt32BE(frame.length, 8);
    this.emit('packet', { buf, header });
  }
}

function fakePcap(linkType = 'LINKTYPE_ETHERNET'): {
  module: PcapModule;
  opened: Array<{ device: string; options: unknown }>;
  session: FakeSession;
} {
  const session = new FakeSession(linkType);
  const opened: Array<{ device: string; options: unknown }> = [];
  const module: PcapModule = {
    warningHandler: () => undefined,
    createSession(device, options) {
      opened.push({ device, options });
      return session;
    },
  };
  return { module, opened, session };
}

describe('PcapListener (fake pcap module)', () => {
  test('opens a non-promiscuous, immediate-mode session filtered on the port', async () => {
    const { module, opened } = fakePcap();
    const listener = new PcapListener({ interface: 'eth0', port: DPORT, load: () => Promise.resolve(module), checkHost: false });
    await listener.start(() => undefined);
    assert.equal(listener.description, `pcap eth0 udp dst port ${DPORT}`);
    assert.deepEqual(opened, [
      {
        device: 'eth0',
        options: {
          filter: `udp dst port ${DPORT}`,
          snap_length: 1024,
          buffer_size: 1 << 20,
          buffer_timeout: 0,
          promiscuous: false,
          monitor: false,
        },
      },
    ]);
    await listener.close();
  });

  test('parses only the captured length of the reused buffer; other ports are dropped', async () => {
    const { module, session } = fakePcap();
    const got: Datagram[] = [];
    const listener = new PcapListener({ interface: 'eth0', port: DPORT, load: () => Promise.resolve(module), checkHost: false });
    await listener.start((d) => got.push({ ...d, payload: Uint8Array.from(d.payload) }));
    session.deliver(ethernet(ETHERTYPE_IPV4, ipv4()));
    session.deliver(ethernet(ETHERTYPE_IPV4, ipv4()).subarray(0, 60)); // truncated capture
    const otherPort = ethernet(ETHERTYPE_IPV4, ipv4());
    otherPort[14 + 20 + 3] = (otherPort[14 + 20 + 3] as number) ^ 1;
    session.deliver(otherPort);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]?.payload, PAYLOAD);
    assert.equal(got[0]?.source, '192.0.2.1');
    await listener.close();
    assert.ok(session.closed);
  });

  test('"Unknown linktype 276" is Linux cooked v2; an unsupported link type is refused and closed', async () => {
    const sll2 = fakePcap('Unknown linktype 276');
    const any = new PcapListener({ interface: 'any', port: DPORT, load: () => Promise.resolve(sll2.module), checkHost: false });
    await any.start(() => undefined);
    assert.equal(sll2.session.closed, false);
    await any.close();

    const radio = fakePcap('LINKTYPE_IEEE802_11_RADIO');
    await assert.rejects(
      new PcapListener({ interface: 'wlan0mon', port: DPORT, load: () => Promise.resolve(radio.module) }).start(() => undefined),
      {
        message:
          'cannot capture on interface "wlan0mon": link type LINKTYPE_IEEE802_11_RADIO is not supported (Ethernet, Linux cooked, raw IP or loopback)',
      },
    );
    assert.ok(radio.session.closed);
  });

  test('open errors name the interface', async () => {
    const module: PcapModule = {
      warningHandler: () => undefined,
      createSession() {
        throw new Error('socket: Operation not permitted');
      },
    };
    await assert.rejects(
      new PcapListener({ interface: 'eth0', port: DPORT, load: () => Promise.resolve(module), checkHost: false }).start(() => undefined),
      {
        message: 'cannot capture on interface "eth0": socket: Operation not permitted (needs root or CAP_NET_RAW)',
      },
    );
  });

  test('pcap module missing, or present but broken', async () => {
    const missing = Object.assign(new Error("Cannot find package 'pcap' imported from /x/pcap.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    await assert.rejects(
      new PcapListener({ interface: 'eth0', port: DPORT, load: () => Promise.reject(missing) }).start(() => undefined),
      {
        message: PCAP_MISSING,
      },
    );
    assert.equal(
      PCAP_MISSING,
      'listen = "pcap" needs the optional pcap module: apt-get install libpcap-dev && npm install pcap (or use listen = "udp")',
    );
    const broken = Object.assign(new Error("Cannot find module './build/Release/pcap_binding'\nRequire stack: ..."), {
      code: 'MODULE_NOT_FOUND',
    });
    await assert.rejects(
      new PcapListener({ interface: 'eth0', port: DPORT, load: () => Promise.reject(broken) }).start(() => undefined),
      {
        message: `${PCAP_MISSING}; loading it failed: Cannot find module './build/Release/pcap_binding'`,
      },
    );
  });
});

// --- live, on the loopback interface -----------------------------------------------------------

/** Capturing needs root (CAP_NET_RAW) on Linux ("lo", /proc/net/udp) and the pcap module. */
const LIVE_NEEDS: readonly Need[] = ['root', 'pcap'];

const randomPort = (): number => 40000 + Math.floor(Math.random() * 20000);

async function send(type: 'udp4' | 'udp6', host: string, port: number, payload: Uint8Array): Promise<number> {
  const client = dgram.createSocket(type);
  await new Promise<void>((resolve, reject) => client.send(payload, port, host, (err) => (err ? reject(err) : resolve())));
  const clientPort = client.address().port;
  client.close();
  return clientPort;
}

/**
 * Starts a capture, runs `body`, closes. node_pcap only releases its poll handle when a packet
 * matching the filter arrives after close(), so send one: otherwise this process never exits.
 */
async function withCapture(
  iface: string,
  body: (port: number, next: () => Promise<Datagram>, listener: PcapListener) => Promise<void>,
): Promise<void> {
  const port = randomPort();
  const listener = new PcapListener({ interface: iface, port });
  const queue: Datagram[] = [];
  let wake: (() => void) | undefined;
  await listener.start((d) => {
    queue.push({ ...d, payload: Uint8Array.from(d.payload) }); // the capture buffer is reused
    wake?.();
  });
  const next = async (): Promise<Datagram> => {
    if (queue.length === 0) {
      const timer = setTimeout(() => wake?.(), 2000);
      await new Promise<void>((resolve) => (wake = resolve));
      clearTimeout(timer);
    }
    const d = queue.shift();
    if (d === undefined) throw new Error(`nothing captured on ${iface} within 2 s`);
    return d;
  };
  try {
    await body(port, next, listener);
  } finally {
    await listener.close();
    await send('udp4', '127.0.0.1', port, Uint8Array.from([0])); // release node_pcap's handle
  }
}

/** Local ports of all UDP sockets, from /proc/net/udp and /proc/net/udp6 ("ADDR:PORT" in hex). */
function boundUdpPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // no IPv6
    }
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      const hex = local?.split(':')[1];
      if (hex !== undefined) ports.add(parseInt(hex, 16));
    }
  }
  return ports;
}

describe('PcapListener (live)', () => {
  test('lo: IPv4 datagram delivered with payload, source 127.0.0.1 and source port', async (t) => {
    if (!requires(t, LIVE_NEEDS)) return;
    await withCapture('lo', async (port, next, listener) => {
      assert.equal(listener.description, `pcap lo udp dst port ${port}`);
      const clientPort = await send('udp4', '127.0.0.1', port, PAYLOAD);
      const d = await next();
      assert.deepEqual(d.payload, PAYLOAD);
      assert.equal(d.source, '127.0.0.1');
      assert.equal(d.sourcePort, clientPort);
    });
  });

  test('lo: IPv6 datagram from ::1', async (t) => {
    if (!requires(t, LIVE_NEEDS)) return;
    await withCapture('lo', async (port, next) => {
      try {
        await send('udp6', '::1', port, Uint8Array.from([1, 2, 3]));
      } catch {
        return t.skip('no IPv6 on lo');
      }
      const d = await next();
      assert.equal(d.source, '::1');
      assert.deepEqual(d.payload, Uint8Array.from([1, 2, 3]));
    });
  });

  test('"any" (Linux cooked capture)', async (t) => {
    if (!requires(t, LIVE_NEEDS)) return;
    await withCapture('any', async (port, next) => {
      await send('udp4', '127.0.0.1', port, PAYLOAD);
      const d = await next();
      assert.equal(d.source, '127.0.0.1');
      assert.deepEqual(d.payload, PAYLOAD);
    });
  });

  test('binds no socket: the port is absent from /proc/net/udp and /proc/net/udp6', async (t) => {
    if (!requires(t, LIVE_NEEDS)) return;
    await withCapture('lo', async (port) => {
      // Positive control: the same check does see a socket that is bound.
      const control = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => control.bind(0, '127.0.0.1', resolve));
      const controlPort = control.address().port;
      const seen = boundUdpPorts();
      control.close();
      assert.ok(seen.has(controlPort), 'the /proc/net/udp reader works');
      assert.equal(boundUdpPorts().has(port), false, `something bound UDP port ${port}`);
    });
  });

  test('no such interface: start() rejects naming it', async (t) => {
    if (!requires(t, LIVE_NEEDS)) return;
    const listener = new PcapListener({ interface: 'knockspa-nope0', port: randomPort() });
    await assert.rejects(
      listener.start(() => undefined),
      /^Error: cannot capture on interface "knockspa-nope0": /,
    );
  });
});
