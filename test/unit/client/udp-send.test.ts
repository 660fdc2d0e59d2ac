// The client's datagram sender: through Node 20's UDP handle and through dgram, the same bytes
// arrive, a refused send fails with the same error, no socket is left open; where the handle is
// not to be used (permission model, --pending-deprecation, a bad port) dgram sends instead.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { sendDatagram, sendThroughDgram, sendThroughHandle, socketError } from '../../../src/client/udp-send.js';

type Sender = (packet: Uint8Array, address: string, family: 4 | 6, port: number) => Promise<void>;

const MODULE = new URL('../../../src/client/udp-send.js', import.meta.url).href;
const ON_NODE_20 = process.versions.node.startsWith('20.');

/** The handle path as a sender; fails the test where it is not taken (it must be, on Node 20). */
const throughHandle: Sender = (...args) => {
  const sent = sendThroughHandle(...args);
  assert.ok(sent !== null, 'the handle path is taken');
  return sent;
};

const SENDERS: ReadonlyArray<readonly [string, Sender]> = [
  ...(ON_NODE_20 ? [['the UDP handle', throughHandle] as const] : []),
  ['dgram', sendThroughDgram],
  ['sendDatagram', sendDatagram],
];

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

for (const [type, address, family] of [['udp4', '127.0.0.1', 4], ['udp6', '::1', 6]] as const) {
  for (const [name, send] of SENDERS) {
    test(`${name} delivers the packet to ${address} whole, and closes its socket`, async () => {
      const { socket, port } = await listener(type, address);
      try {
        const before = await openUdpSockets();
        const packet = Uint8Array.from({ length: 146 }, (_, i) => (i * 7 + family) & 0xff);
        const arrived = once(socket, 'message') as Promise<[Buffer, { address: string }]>;
        await send(packet, address, family, port);
        const [bytes, from] = await arrived;
        assert.deepEqual(new Uint8Array(bytes), packet);
        assert.equal(from.address, address);
        assert.equal(await openUdpSockets(), before, 'the sending socket is closed');
      } finally {
        socket.close();
      }
    });
  }
}

/** What a failed send rejects with, as a plain object (message included). */
async function failure(send: Sender, address: string, family: 4 | 6, port: number): Promise<Record<string, unknown>> {
  try {
    await send(new Uint8Array(8), address, family, port);
  } catch (err) {
    return { ...(err as object), message: (err as Error).message };
  }
  return assert.fail(`sending to ${address} (family ${family}) did not fail`);
}

test('a send the kernel refuses (an IPv6 address on an IPv4 socket) rejects with the error dgram gives', { skip: !ON_NODE_20 && 'the handle is used on Node 20 only' }, async () => {
  const before = await openUdpSockets();
  const fromDgram = await failure(sendThroughDgram, '::1', 4, 9);
  assert.equal(fromDgram.code, 'EINVAL');
  assert.deepEqual(await failure(throughHandle, '::1', 4, 9), fromDgram);
  assert.deepEqual(await failure(sendDatagram, '::1', 4, 9), fromDgram);
  assert.equal(await openUdpSockets(), before, 'no socket left open');
});

test('a failed bind reads as dgram\'s: no ":0" and no port for the ephemeral port', () => {
  const err = socketError(-24, 'bind', '0.0.0.0', 0);
  assert.deepEqual({ ...err, message: err.message }, { errno: -24, code: 'EMFILE', syscall: 'bind', address: '0.0.0.0', message: 'bind EMFILE 0.0.0.0' });
});

test('a port dgram refuses is not given to the handle (it would take 70000 as 4464): dgram says what is wrong', async () => {
  for (const port of [0, 70_000, 9.5, -1]) {
    assert.equal(sendThroughHandle(new Uint8Array(1), '127.0.0.1', 4, port), null, `port ${port}`);
    await assert.rejects(sendDatagram(new Uint8Array(1), '127.0.0.1', 4, port), { code: 'ERR_SOCKET_BAD_PORT' });
  }
  assert.equal(await openUdpSockets(), 0, 'no socket left open');
});

/** Runs `script` (an ES module body; `send` is the module) in a child Node with `flags`. */
function child(flags: string[], script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const body = `const send = await import(${JSON.stringify(MODULE)});\n${script}`;
  return new Promise((done) => {
    execFile(process.execPath, [...flags, '--input-type=module', '-e', body], { timeout: 20_000 }, (err, stdout, stderr) =>
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
    );
  });
}

/** Child code: sends with `call` to a listener of its own; prints "via handle|dgram" and "arrived N". */
const SEND_AND_RECEIVE = (call: string): string => `
  const { createSocket } = await import('node:dgram');
  const rx = createSocket('udp4');
  await new Promise((r) => rx.bind(0, '127.0.0.1', r));
  const got = new Promise((r) => rx.once('message', (m) => r(m.length)));
  const viaHandle = send.sendThroughHandle(new Uint8Array(1), '127.0.0.1', 4, 9);
  console.log(viaHandle === null ? 'via dgram' : 'via handle');
  await viaHandle;
  await ${call}(new Uint8Array(33), '127.0.0.1', 4, rx.address().port);
  console.log('arrived', await got);
  rx.close();`;

test('when Node must finish a send later (no immediate send), the handle path still delivers, and reports a failure as dgram does', { skip: !ON_NODE_20 && 'the handle is used on Node 20 only' }, async () => {
  const run = await child(['--test-udp-no-try-send'], `${SEND_AND_RECEIVE('send.sendThroughHandle')}
  const errorOf = async (p) => { try { await p; return 'sent'; } catch (e) { return JSON.stringify({ ...e, message: e.message }); } };
  const a = await errorOf(send.sendThroughHandle(new Uint8Array(8), '255.255.255.255', 4, 9));
  const b = await errorOf(send.sendThroughDgram(new Uint8Array(8), '255.255.255.255', 4, 9));
  console.log(a === b && a !== 'sent' ? 'same failure' : 'differs: ' + a + ' / ' + b);`);
  assert.equal(run.stderr, '');
  assert.equal(run.stdout, 'via handle\narrived 33\nsame failure\n');
});

/** The permission model's flags: --experimental-permission on Node 20, --permission from 22 on (24 knows only that); sockets need --allow-net where Node has it (26). */
const PERMISSION_FLAGS = [
  process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission',
  ...(process.allowedNodeEnvironmentFlags.has('--allow-net') ? ['--allow-net'] : []),
];

test('under the permission model (process.binding refuses) dgram sends', async () => {
  const run = await child([...PERMISSION_FLAGS, '--allow-fs-read=*', '--no-warnings'], SEND_AND_RECEIVE('send.sendDatagram'));
  assert.equal(run.stderr, '');
  assert.equal(run.stdout, 'via dgram\narrived 33\n');
});

test('with --pending-deprecation (process.binding would warn, and throw under --throw-deprecation) dgram sends, and nothing is printed', async () => {
  const run = await child(['--pending-deprecation', '--throw-deprecation'], SEND_AND_RECEIVE('send.sendDatagram'));
  assert.equal(run.stderr, '');
  assert.equal(run.code, 0);
  assert.equal(run.stdout, 'via dgram\narrived 33\n');
});

test('the check can fail: without those flags, on Node 20, the handle sends', { skip: !ON_NODE_20 && 'the handle is used on Node 20 only' }, async () => {
  const run = await child([], SEND_AND_RECEIVE('send.sendDatagram'));
  assert.equal(run.stderr, '');
  assert.equal(run.stdout, 'via handle\narrived 33\n');
});
