/**
 * Traffic in the lab: a TCP service in the server namespace, TCP connect probes and kept-open
 * sessions, single UDP datagrams sent and received, each a small node program (arguments through
 * argv) run inside a namespace of a {@link TestNet}.
 * @module
 */
import type { TestNet } from './netns.js';
import { NODE, type NsProcess } from './process.js';

// ---------------------------------------------------------------------------------------------
// Small programs run inside the namespaces (node one-liners, arguments through argv)

/** TCP service: greets with "hello\n", then echoes. Prints "listening" once bound. argv: port. */
const TCP_SERVICE = `
const net = require('node:net');
const port = Number(process.argv[1]);
const srv = net.createServer((s) => { s.on('error', () => {}); s.write('hello\\n'); s.on('data', (d) => s.write(d)); });
srv.listen(port, '::', () => console.log('listening'));
`;

/** One connect attempt; prints a JSON outcome. argv: host port timeoutMs [localAddress]. */
const TCP_PROBE = `
const net = require('node:net');
const [host, port, timeoutMs, localAddress] = process.argv.slice(1);
const opts = { host, port: Number(port) };
if (localAddress) opts.localAddress = localAddress;
const s = net.connect(opts);
const done = (outcome, detail) => { console.log(JSON.stringify({ outcome, detail })); s.destroy(); process.exit(0); };
setTimeout(() => done('timeout'), Number(timeoutMs));
let got = '';
s.on('data', (d) => { got += d; if (got.includes('\\n')) done('connected', got.trim()); });
s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'error', e.code || e.message));
`;

/**
 * A long-lived TCP session: connects, prints {"ev":"connected"} and each chunk received as
 * {"ev":"data","data":...}; writes every stdin line to the socket. argv: host port [localAddress].
 */
const TCP_SESSION = `
const net = require('node:net');
const [host, port, localAddress] = process.argv.slice(1);
const opts = { host, port: Number(port) };
if (localAddress) opts.localAddress = localAddress;
const say = (o) => console.log(JSON.stringify(o));
const s = net.connect(opts, () => say({ ev: 'connected', local: s.localAddress + ':' + s.localPort }));
s.setEncoding('utf8');
s.on('data', (d) => say({ ev: 'data', data: d }));
s.on('error', (e) => say({ ev: 'error', code: e.code || e.message }));
s.on('close', () => { say({ ev: 'closed' }); process.exit(0); });
process.stdin.setEncoding('utf8');
let buf = '';
process.stdin.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { s.write(buf.slice(0, i + 1)); buf = buf.slice(i + 1); } });
process.stdin.on('end', () => s.end());
`;

/** Sends one UDP datagram. argv: host port hex [localAddress]. Prints "sent". */
const UDP_SEND = `
const dgram = require('node:dgram');
const [host, port, hex, localAddress] = process.argv.slice(1);
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
const send = () => s.send(Buffer.from(hex, 'hex'), Number(port), host, (e) => { if (e) { console.error(e.message); process.exit(1); } console.log('sent'); s.close(); });
if (localAddress) s.bind({ address: localAddress, port: 0 }, send); else send();
`;

/** Receives one UDP datagram and prints its source and hex. argv: address port. Prints "ready" first. */
const UDP_RECV_ONE = `
const dgram = require('node:dgram');
const [address, port] = process.argv.slice(1);
const s = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
s.on('message', (m, r) => { console.log(JSON.stringify({ from: r.address, hex: m.toString('hex') })); s.close(); });
s.bind(Number(port), address, () => console.log('ready'));
`;

export type ConnectOutcome = 'connected' | 'timeout' | 'refused' | 'error';

/** A TCP service on `port` (all addresses, both families) in the server namespace; resolves once listening. */
export async function startTcpService(net: TestNet, port: number): Promise<NsProcess> {
  const p = net.spawnIn(net.srv, [NODE, '-e', TCP_SERVICE, String(port)]);
  await p.waitForLine((l) => l === 'listening', 10_000);
  return p;
}

/** One TCP connect from namespace fromNs; resolves with what happened (never rejects on network errors). */
export async function tcpConnect(
  net: TestNet,
  fromNs: string,
  host: string,
  port: number,
  opts: { timeoutMs?: number; localAddress?: string } = {},
): Promise<{ outcome: ConnectOutcome; detail?: string }> {
  const timeoutMs = opts.timeoutMs ?? 700;
  const argv = [NODE, '-e', TCP_PROBE, host, String(port), String(timeoutMs)];
  if (opts.localAddress !== undefined) argv.push(opts.localAddress);
  const r = await net.run(fromNs, argv, { timeoutMs: timeoutMs + 10_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const parsed = JSON.parse(line) as { outcome: ConnectOutcome; detail?: string };
    return parsed;
  } catch {
    throw new Error(`connect probe gave no result: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** True if a TCP connection from fromNs to host:port completes and the service greets us. */
export async function canConnect(
  net: TestNet,
  fromNs: string,
  host: string,
  port: number,
  opts: { timeoutMs?: number; localAddress?: string } = {},
): Promise<boolean> {
  return (await tcpConnect(net, fromNs, host, port, opts)).outcome === 'connected';
}

/**
 * A TCP connection kept open in a process in fromNs. Resolves once connected and greeted;
 * `exchange(text)` sends a line and resolves with the echo (rejects on timeout).
 */
export async function openSession(
  net: TestNet,
  fromNs: string,
  host: string,
  port: number,
  opts: { localAddress?: string; timeoutMs?: number } = {},
): Promise<TcpSession> {
  const argv = [NODE, '-e', TCP_SESSION, host, String(port)];
  if (opts.localAddress !== undefined) argv.push(opts.localAddress);
  const p = net.spawnIn(fromNs, argv);
  await p.waitForJson((l) => l.ev === 'connected', { timeoutMs: opts.timeoutMs ?? 3_000 });
  await p.waitForJson((l) => l.ev === 'data' && String(l.data).includes('hello'), { timeoutMs: opts.timeoutMs ?? 3_000 });
  return new TcpSession(p);
}

/** Sends one UDP datagram with the given bytes from namespace fromNs. */
export async function sendUdp(
  net: TestNet,
  fromNs: string,
  host: string,
  port: number,
  bytes: Uint8Array,
  opts: { localAddress?: string } = {},
): Promise<void> {
  const argv = [NODE, '-e', UDP_SEND, host, String(port), Buffer.from(bytes).toString('hex')];
  if (opts.localAddress !== undefined) argv.push(opts.localAddress);
  const r = await net.run(fromNs, argv, { timeoutMs: 10_000 });
  if (r.code !== 0 || !r.stdout.includes('sent'))
    throw new Error(`UDP send from ${fromNs} to ${host}:${port} failed: exit ${r.code} ${r.stderr}`);
}

/** Starts a one-shot UDP receiver in ns (resolves once bound); its process prints {from, hex} on receipt. */
export async function udpReceiver(net: TestNet, ns: string, address: string, port: number): Promise<NsProcess> {
  const p = net.spawnIn(ns, [NODE, '-e', UDP_RECV_ONE, address, String(port)]);
  await p.waitForLine((l) => l === 'ready', 10_000);
  return p;
}

export class TcpSession {
  constructor(readonly proc: NsProcess) {}

  /** Sends `text` + newline and resolves once it has come back, or rejects after timeoutMs. */
  async exchange(text: string, timeoutMs = 2_000): Promise<string> {
    const since = this.proc.mark();
    this.proc.write(`${text}\n`);
    const received = (): string =>
      this.proc.json
        .slice(since)
        .filter((l) => l.ev === 'data')
        .map((l) => String(l.data))
        .join('');
    return this.proc.waitUntil(
      () => (received().includes(text) ? received() : undefined),
      timeoutMs,
      `the echo of ${JSON.stringify(text)}`,
    );
  }

  close(): Promise<unknown> {
    return this.proc.stop('SIGTERM', 1_000);
  }
}
