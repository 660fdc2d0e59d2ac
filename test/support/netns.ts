/**
 * Network-namespace test harness for the knockspa end-to-end tests and the demo.
 *
 * A {@link TestNet} is two fresh namespaces, a server and a client, joined by a veth pair whose ends
 * are created directly inside them (nothing is ever added to the root namespace). Addresses live only
 * in the RFC 2544 benchmarking range and the IPv6 documentation prefix; there is no default route,
 * so nothing sent from inside can leave the pair. Every firewall command runs through
 * `ip netns exec`, never in the root namespace.
 *
 * Cleanup always runs: per test through `t.after`, and for the whole process on 'exit', SIGINT and
 * SIGTERM, so a crashed run leaves no namespace behind. {@link sweepStale} removes what a run that
 * died harder (SIGKILL) left.
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// ---------------------------------------------------------------------------------------------
// Addresses and names

export const SERVER_V4 = '198.18.0.1';
export const CLIENT_V4 = '198.18.0.2';
/** Second client address, for --allow-ip tests. */
export const CLIENT2_V4 = '198.18.0.3';
export const SERVER_V6 = '2001:db8:4b::1';
export const CLIENT_V6 = '2001:db8:4b::2';
export const CLIENT2_V6 = '2001:db8:4b::3';

/** Names this harness gives its namespaces: "ks-" + 6 hex digits + role. Nothing else is ever deleted. */
export const NS_NAME = /^ks-([0-9a-f]{6})-(srv|cli)$/;
/** Where each live TestNet records the pid that owns it, so a sweep never removes a live run's namespaces. */
const OWNER_DIR = '/run/knockspa-test';

export const NODE = process.execPath;

export type Family = 4 | 6;

// ---------------------------------------------------------------------------------------------
// Running commands

export interface RunOptions {
  /** Kill the command (SIGKILL) after this long. Default 15 s. */
  timeoutMs?: number;
  /** Written to stdin, which is then closed. */
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface RunResult {
  /** Exit code, or null if killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  argv: readonly string[];
}

/** Every child process this module started and that has not exited yet. */
const liveChildren = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  liveChildren.add(child);
  const forget = (): void => {
    liveChildren.delete(child);
  };
  child.once('exit', forget);
  child.once('error', forget);
}

function nsArgv(ns: string | null, argv: readonly string[]): string[] {
  if (argv.length === 0) throw new Error('run: empty argv');
  return ns === null ? [...argv] : ['ip', 'netns', 'exec', ns, ...argv];
}

/**
 * Runs argv (an argument array, never a shell string) inside namespace `ns`, or in the current
 * namespace when `ns` is null, and collects its output. Never rejects for a non-zero exit.
 */
export function run(ns: string | null, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = nsArgv(ns, argv);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const child = spawn(full[0] as string, full.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    track(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.stdin?.on('error', () => {});
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${full.join(' ')}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        argv: full,
      });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Like {@link run}, but rejects (with the output in the message) unless the command exits 0. */
export async function runOk(ns: string | null, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(ns, argv, opts);
  if (r.code !== 0) {
    throw new Error(
      `command failed (${r.timedOut ? 'timed out' : r.code === null ? `signal ${r.signal}` : `exit ${r.code}`}): ${r.argv.join(' ')}\n` +
        `stdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`,
    );
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Long-running processes

export type LogLine = Record<string, unknown>;

export interface WaitOptions {
  timeoutMs?: number;
  /** Only consider JSON lines at or after this index (from {@link NsProcess.mark}). Default 0. */
  since?: number;
}

/**
 * A process started inside a namespace. Collects stdout line by line (and every line that parses as
 * a JSON object into `json`), and stderr as text.
 */
export class NsProcess {
  readonly child: ChildProcess;
  readonly argv: readonly string[];
  /** Every stdout line, in order. */
  readonly lines: string[] = [];
  /** Every stdout line that is a JSON object, parsed, in order. */
  readonly json: LogLine[] = [];
  stderr = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  exited = false;
  /** Resolves when the process has exited and its output is fully read. */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = '';
  private waiters = new Set<() => void>();

  constructor(ns: string | null, argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
    this.argv = nsArgv(ns, argv);
    this.child = spawn(this.argv[0] as string, this.argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    track(this.child);
    this.child.stdin?.on('error', () => {});
    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.done = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exited) return;
        if (this.partial !== '') this.addLine(this.partial);
        this.partial = '';
        this.exited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        this.notify();
        resolve({ code, signal });
      };
      this.child.once('close', finish);
      this.child.once('error', (e) => {
        this.stderr += `\n[spawn error] ${e.message}`;
        finish(null, null);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private onStdout(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.addLine(line);
    this.notify();
  }

  private addLine(raw: string): void {
    const line = raw.replace(/\r$/, '');
    this.lines.push(line);
    const trimmed = line.trim();
    if (trimmed.startsWith('{')) {
      try {
        const value: unknown = JSON.parse(trimmed);
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) this.json.push(value as LogLine);
      } catch {
        // not JSON: kept in `lines` only
      }
    }
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The index the next JSON line will get: pass it as `since` to wait only for later lines. */
  mark(): number {
    return this.json.length;
  }

  /** JSON lines at or after `since` that match. */
  find(pred: (line: LogLine) => boolean, since = 0): LogLine[] {
    return this.json.slice(since).filter(pred);
  }

  /**
   * Resolves with the first JSON line (at or after `since`) that matches. Rejects on timeout or if
   * the process exits first; the error carries the recent output, for the test report.
   */
  waitForJson(pred: (line: LogLine) => boolean, opts: WaitOptions = {}): Promise<LogLine> {
    const since = opts.since ?? 0;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return this.waitUntil(
      () => {
        for (let i = since; i < this.json.length; i++) {
          const line = this.json[i] as LogLine;
          if (pred(line)) return line;
        }
        return undefined;
      },
      timeoutMs,
      `a matching JSON line (since #${since})`,
    );
  }

  /** Resolves with the first stdout line (any, not only JSON) that matches. */
  waitForLine(pred: (line: string) => boolean, timeoutMs = 10_000): Promise<string> {
    return this.waitUntil(() => this.lines.find(pred), timeoutMs, 'a matching stdout line');
  }

  /** Resolves with the first non-undefined result of probe, re-run on every output; rejects on timeout or exit. */
  waitUntil<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        const found = probe();
        if (found !== undefined) {
          cleanup();
          resolve(found);
        } else if (this.exited) {
          cleanup();
          reject(new Error(`process exited (code ${this.exitCode}, signal ${this.exitSignal}) before ${what}\n${this.describe()}`));
        }
      };
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.waiters.delete(check);
      };
      timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The command, its last stdout lines and its stderr, for error messages. */
  describe(maxLines = 40): string {
    const tail = this.lines.slice(-maxLines);
    return (
      `command: ${this.argv.join(' ')}\n` +
      `stdout (last ${tail.length} of ${this.lines.length} lines):\n${tail.map((l) => `  ${l}`).join('\n')}\n` +
      `stderr:\n${this.stderr
        .trimEnd()
        .split('\n')
        .slice(-maxLines)
        .map((l) => `  ${l}`)
        .join('\n')}`
    );
  }

  write(text: string): void {
    this.child.stdin?.write(text);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.exited) {
      try {
        this.child.kill(signal);
      } catch {
        // already gone
      }
    }
  }

  /** Sends `signal`, waits up to graceMs for the exit, then SIGKILLs. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exited) return { code: this.exitCode, signal: this.exitSignal };
    this.kill(signal);
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([this.done, timer])) === 'timeout') {
      this.kill('SIGKILL');
    }
    return this.done;
  }

  /** Waits for the exit, up to timeoutMs; null if it has not exited by then. */
  async waitExit(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
    const timer = new Promise<null>((r) => setTimeout(() => r(null), timeoutMs).unref());
    return Promise.race([this.done, timer]);
  }
}

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

// ---------------------------------------------------------------------------------------------
// Root check

function ipNetnsWorks(): boolean {
  try {
    const r = spawnSync('ip', ['netns', 'list'], { stdio: 'ignore', timeout: 5_000 });
    return r.status === 0;
  } catch {
    return false;
  }
}

/** Why this machine cannot run the namespace tests, or null if it can. */
export function netnsUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root';
  if (!ipNetnsWorks()) return '`ip netns list` does not work';
  return null;
}

export const SKIP_MESSAGE = 'e2e tests need root and ip netns; run: sudo npm test';

/** The bits of node:test's TestContext we use (kept structural so the demo can pass its own). */
export interface SkippableContext {
  skip(message?: string): void;
}
export interface AfterContext {
  after(fn: () => void | Promise<void>): void;
}

/**
 * True when the namespace tests can run. Otherwise: in CI (CI=true) throws, since a skip there would
 * hide that nothing was tested; elsewhere marks the test skipped and returns false.
 */
export function requireRoot(t: SkippableContext): boolean {
  const why = netnsUnavailableReason();
  if (why === null) return true;
  if (process.env.CI === 'true') throw new Error(`${SKIP_MESSAGE} (${why}); CI must run them, a skip there is a failure`);
  t.skip(`${SKIP_MESSAGE} (${why})`);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Process-wide cleanup

const liveNets = new Set<TestNet>();
let handlersInstalled = false;

function killAllChildrenSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  liveChildren.clear();
}

function installProcessHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', () => {
    killAllChildrenSync();
    for (const net of [...liveNets]) net.destroySync();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllChildrenSync();
      for (const net of [...liveNets]) net.destroySync();
      process.exit(signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 129);
    });
  }
}

function listNamespaces(): string[] {
  const r = spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8', timeout: 5_000 });
  if (r.status !== 0) return [];
  try {
    const parsed: unknown = JSON.parse(r.stdout.trim() === '' ? '[]' : r.stdout);
    if (!Array.isArray(parsed)) return [];
    return parsed.map((e: unknown) => (e !== null && typeof e === 'object' && 'name' in e ? String((e as { name: unknown }).name) : '')).filter((n) => n !== '');
  } catch {
    return [];
  }
}

/** Namespaces made by this harness (any run) that still exist. */
export function harnessNamespaces(): string[] {
  return listNamespaces().filter((n) => NS_NAME.test(n));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killNamespacePidsSync(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5_000 });
  if (r.status !== 0) return;
  for (const word of r.stdout.split(/\s+/)) {
    const pid = Number(word);
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

function deleteNamespaceSync(ns: string): void {
  if (!NS_NAME.test(ns)) throw new Error(`refusing to delete namespace ${ns}: not one of this harness's names`);
  killNamespacePidsSync(ns);
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
}

const processStartMs = Date.now() - process.uptime() * 1000;

/**
 * Deletes namespaces left by earlier runs that crashed: only names matching {@link NS_NAME}, only
 * ones not owned by a live process (the owner file names its pid), and, when there is no owner
 * file, only ones created before this process started. Returns the names deleted.
 */
export function sweepStale(): string[] {
  const deleted: string[] = [];
  const mine = new Set<string>();
  for (const net of liveNets) {
    mine.add(net.srv);
    mine.add(net.cli);
  }
  for (const ns of harnessNamespaces()) {
    if (mine.has(ns)) continue;
    const id = (NS_NAME.exec(ns) as RegExpExecArray)[1] as string;
    let ownerPid: number | null = null;
    try {
      ownerPid = Number(readFileSync(join(OWNER_DIR, id), 'utf8').trim());
    } catch {
      ownerPid = null;
    }
    let stale: boolean;
    if (ownerPid !== null && Number.isInteger(ownerPid) && ownerPid > 0) {
      stale = ownerPid !== process.pid && !pidAlive(ownerPid);
    } else {
      let createdMs = Infinity;
      for (const dir of ['/run/netns', '/var/run/netns']) {
        try {
          createdMs = statSync(join(dir, ns)).mtimeMs;
          break;
        } catch {
          // try the next
        }
      }
      stale = createdMs < processStartMs;
    }
    if (!stale) continue;
    deleteNamespaceSync(ns);
    try {
      rmSync(join(OWNER_DIR, id), { force: true });
    } catch {
      // ignore
    }
    deleted.push(ns);
  }
  // Owner files whose namespaces are gone.
  try {
    const present = new Set(harnessNamespaces().map((n) => (NS_NAME.exec(n) as RegExpExecArray)[1]));
    for (const id of readdirSync(OWNER_DIR)) {
      if (/^[0-9a-f]{6}$/.test(id) && !present.has(id)) rmSync(join(OWNER_DIR, id), { force: true });
    }
  } catch {
    // no owner dir
  }
  return deleted;
}

// ---------------------------------------------------------------------------------------------
// The test network

export interface BaseRulesetOptions {
  /** The SPA port. */
  spaPort: number;
  /** 'udp': the SPA port is accepted; 'pcap': it is dropped too (the capture sees it anyway). */
  udpMode: boolean;
}

export interface CreateOptions {
  /** Run {@link sweepStale} first. Default true. */
  sweep?: boolean;
}

export class TestNet {
  readonly id: string;
  /** Server namespace name. */
  readonly srv: string;
  /** Client namespace name. */
  readonly cli: string;
  /** veth end in the server namespace (the pcap listener's interface). */
  readonly srvIf: string;
  /** veth end in the client namespace. */
  readonly cliIf: string;
  readonly serverV4 = SERVER_V4;
  readonly clientV4 = CLIENT_V4;
  readonly client2V4 = CLIENT2_V4;
  readonly serverV6 = SERVER_V6;
  readonly clientV6 = CLIENT_V6;
  readonly client2V6 = CLIENT2_V6;
  private readonly procs = new Set<NsProcess>();
  private readonly cleanups: Array<() => void | Promise<void>> = [];
  private destroyed = false;

  private constructor(id: string) {
    this.id = id;
    this.srv = `ks-${id}-srv`;
    this.cli = `ks-${id}-cli`;
    this.srvIf = `ks-${id}-s`;
    this.cliIf = `ks-${id}-c`;
  }

  /**
   * Makes both namespaces and the link between them. With `t`, registers cleanup on `t.after`.
   * Cleanup also runs on process exit and on SIGINT/SIGTERM.
   */
  static async create(t?: AfterContext, opts: CreateOptions = {}): Promise<TestNet> {
    installProcessHandlers();
    if (opts.sweep ?? true) sweepStale();
    const existing = new Set(listNamespaces());
    let id = '';
    for (let i = 0; i < 20; i++) {
      id = randomBytes(3).toString('hex');
      if (!existing.has(`ks-${id}-srv`) && !existing.has(`ks-${id}-cli`)) break;
    }
    const net = new TestNet(id);
    liveNets.add(net);
    if (t !== undefined) t.after(() => net.destroy());
    try {
      mkdirSync(OWNER_DIR, { recursive: true });
      writeFileSync(join(OWNER_DIR, id), `${process.pid}\n`);
      await net.setUp();
    } catch (e) {
      await net.destroy();
      throw e;
    }
    return net;
  }

  private async setUp(): Promise<void> {
    const { srv, cli, srvIf, cliIf } = this;
    await runOk(null, ['ip', 'netns', 'add', srv]);
    await runOk(null, ['ip', 'netns', 'add', cli]);
    // Both ends are created inside their namespaces: the root namespace never holds them.
    await runOk(null, ['ip', 'link', 'add', srvIf, 'netns', srv, 'type', 'veth', 'peer', 'name', cliIf, 'netns', cli]);
    for (const ns of [srv, cli]) await runOk(null, ['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await runOk(null, ['ip', '-n', srv, 'addr', 'add', `${SERVER_V4}/24`, 'dev', srvIf]);
    await runOk(null, ['ip', '-n', srv, 'addr', 'add', `${SERVER_V6}/64`, 'dev', srvIf, 'nodad']);
    await runOk(null, ['ip', '-n', cli, 'addr', 'add', `${CLIENT_V4}/24`, 'dev', cliIf]);
    await runOk(null, ['ip', '-n', cli, 'addr', 'add', `${CLIENT2_V4}/24`, 'dev', cliIf]);
    await runOk(null, ['ip', '-n', cli, 'addr', 'add', `${CLIENT_V6}/64`, 'dev', cliIf, 'nodad']);
    // Deprecated (preferred_lft 0): usable when bound explicitly, never picked as the default source.
    await runOk(null, ['ip', '-n', cli, 'addr', 'add', `${CLIENT2_V6}/64`, 'dev', cliIf, 'nodad', 'preferred_lft', '0']);
    await runOk(null, ['ip', '-n', srv, 'link', 'set', srvIf, 'up']);
    await runOk(null, ['ip', '-n', cli, 'link', 'set', cliIf, 'up']);
    // Wait for the link to come up on both ends (veth carrier is immediate, but be sure).
    for (let i = 0; i < 50; i++) {
      const a = await run(null, ['ip', '-n', srv, '-o', 'link', 'show', srvIf]);
      const b = await run(null, ['ip', '-n', cli, '-o', 'link', 'show', cliIf]);
      if (/state UP/.test(a.stdout) && /state UP/.test(b.stdout)) return;
      await sleep(20);
    }
    throw new Error(`veth ${srvIf}/${cliIf} did not come up`);
  }

  /** Registers extra cleanup (temp dirs, ...), run before the namespaces go, in reverse order. */
  onCleanup(fn: () => void | Promise<void>): void {
    this.cleanups.push(fn);
  }

  run(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.assertMine(ns);
    return run(ns, argv, opts);
  }

  runOk(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.assertMine(ns);
    return runOk(ns, argv, opts);
  }

  /** Starts argv in namespace ns; the process is killed at cleanup if still running. */
  spawnIn(ns: string, argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): NsProcess {
    this.assertMine(ns);
    if (this.destroyed) throw new Error('TestNet already destroyed');
    const p = new NsProcess(ns, argv, opts);
    this.procs.add(p);
    void p.done.then(() => this.procs.delete(p));
    return p;
  }

  private assertMine(ns: string): void {
    if (ns !== this.srv && ns !== this.cli) throw new Error(`namespace ${ns} is not part of this TestNet (${this.srv}, ${this.cli})`);
  }

  // -- firewall ---------------------------------------------------------------------------------

  /** The rules {@link baseRuleset} installs, as `iptables -S INPUT` prints them (policy line first). */
  static baseRules(port: number, opts: BaseRulesetOptions, family: Family): string[] {
    const rules = ['-P INPUT ACCEPT', '-A INPUT -i lo -j ACCEPT', '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'];
    if (family === 6) rules.push('-A INPUT -p ipv6-icmp -j ACCEPT');
    rules.push(`-A INPUT -p udp -m udp --dport ${opts.spaPort} -j ${opts.udpMode ? 'ACCEPT' : 'DROP'}`);
    rules.push(`-A INPUT -p tcp -m tcp --dport ${port} -j DROP`);
    return rules;
  }

  /**
   * Replaces INPUT in the server namespace (iptables and ip6tables) by the base ruleset: loopback
   * and established traffic accepted, ICMPv6 accepted (neighbour discovery), the SPA port accepted
   * in udp mode and dropped in pcap mode, and the protected TCP port dropped (silently, no reject).
   * Returns what `iptables -S INPUT` / `ip6tables -S INPUT` print afterwards.
   */
  async baseRuleset(port: number, opts: BaseRulesetOptions): Promise<{ v4: string[]; v6: string[] }> {
    for (const tool of ['iptables', 'ip6tables'] as const) {
      const ipt = (...args: string[]): Promise<RunResult> => this.runOk(this.srv, [tool, '-w', ...args]);
      await ipt('-P', 'INPUT', 'ACCEPT');
      await ipt('-F', 'INPUT');
      await ipt('-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT');
      await ipt('-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
      if (tool === 'ip6tables') await ipt('-A', 'INPUT', '-p', 'ipv6-icmp', '-j', 'ACCEPT');
      await ipt('-A', 'INPUT', '-p', 'udp', '--dport', String(opts.spaPort), '-j', opts.udpMode ? 'ACCEPT' : 'DROP');
      await ipt('-A', 'INPUT', '-p', 'tcp', '--dport', String(port), '-j', 'DROP');
    }
    return { v4: await this.iptablesRules(this.srv, 4), v6: await this.iptablesRules(this.srv, 6) };
  }

  /** `iptables -S INPUT` (or ip6tables for family 6) in namespace ns, one rule per element. */
  async iptablesRules(ns: string, family: Family = 4, chain = 'INPUT'): Promise<string[]> {
    const r = await this.runOk(ns, [family === 4 ? 'iptables' : 'ip6tables', '-w', '-S', chain]);
    return r.stdout.split('\n').filter((l) => l.trim() !== '');
  }

  /** Whole-table dumps (`iptables -S`, `ip6tables -S`) of ns, for before/after comparisons. */
  async firewallSnapshot(ns: string): Promise<{ v4: string; v6: string }> {
    const v4 = await this.runOk(ns, ['iptables', '-w', '-S']);
    const v6 = await this.runOk(ns, ['ip6tables', '-w', '-S']);
    return { v4: v4.stdout, v6: v6.stdout };
  }

  /** Rules in the server's INPUT that accept something from a given source (what a grant inserts). */
  async acceptRules(family: Family = 4): Promise<string[]> {
    return (await this.iptablesRules(this.srv, family)).filter((r) => / -s \S+/.test(r) && / -j ACCEPT$/.test(r));
  }

  // -- services and probes ----------------------------------------------------------------------

  /** A TCP service on `port` (all addresses, both families) in the server namespace; resolves once listening. */
  async startTcpService(port: number): Promise<NsProcess> {
    const p = this.spawnIn(this.srv, [NODE, '-e', TCP_SERVICE, String(port)]);
    await p.waitForLine((l) => l === 'listening', 10_000);
    return p;
  }

  /** One TCP connect from namespace fromNs; resolves with what happened (never rejects on network errors). */
  async connect(fromNs: string, host: string, port: number, opts: { timeoutMs?: number; localAddress?: string } = {}): Promise<{ outcome: ConnectOutcome; detail?: string }> {
    const timeoutMs = opts.timeoutMs ?? 700;
    const argv = [NODE, '-e', TCP_PROBE, host, String(port), String(timeoutMs)];
    if (opts.localAddress !== undefined) argv.push(opts.localAddress);
    const r = await this.run(fromNs, argv, { timeoutMs: timeoutMs + 10_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      const parsed = JSON.parse(line) as { outcome: ConnectOutcome; detail?: string };
      return parsed;
    } catch {
      throw new Error(`connect probe gave no result: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
  }

  /** True if a TCP connection from fromNs to host:port completes and the service greets us. */
  async canConnect(fromNs: string, host: string, port: number, opts: { timeoutMs?: number; localAddress?: string } = {}): Promise<boolean> {
    return (await this.connect(fromNs, host, port, opts)).outcome === 'connected';
  }

  /**
   * A TCP connection kept open in a process in fromNs. Resolves once connected and greeted;
   * `exchange(text)` sends a line and resolves with the echo (rejects on timeout).
   */
  async openSession(fromNs: string, host: string, port: number, opts: { localAddress?: string; timeoutMs?: number } = {}): Promise<TcpSession> {
    const argv = [NODE, '-e', TCP_SESSION, host, String(port)];
    if (opts.localAddress !== undefined) argv.push(opts.localAddress);
    const p = this.spawnIn(fromNs, argv);
    await p.waitForJson((l) => l.ev === 'connected', { timeoutMs: opts.timeoutMs ?? 3_000 });
    await p.waitForJson((l) => l.ev === 'data' && String(l.data).includes('hello'), { timeoutMs: opts.timeoutMs ?? 3_000 });
    return new TcpSession(p);
  }

  /** Sends one UDP datagram with the given bytes from namespace fromNs. */
  async sendUdp(fromNs: string, host: string, port: number, bytes: Uint8Array, opts: { localAddress?: string } = {}): Promise<void> {
    const argv = [NODE, '-e', UDP_SEND, host, String(port), Buffer.from(bytes).toString('hex')];
    if (opts.localAddress !== undefined) argv.push(opts.localAddress);
    const r = await this.run(fromNs, argv, { timeoutMs: 10_000 });
    if (r.code !== 0 || !r.stdout.includes('sent')) throw new Error(`UDP send from ${fromNs} to ${host}:${port} failed: exit ${r.code} ${r.stderr}`);
  }

  /** Starts a one-shot UDP receiver in ns (resolves once bound); its process prints {from, hex} on receipt. */
  async udpReceiver(ns: string, address: string, port: number): Promise<NsProcess> {
    const p = this.spawnIn(ns, [NODE, '-e', UDP_RECV_ONE, address, String(port)]);
    await p.waitForLine((l) => l === 'ready', 10_000);
    return p;
  }

  // -- teardown ---------------------------------------------------------------------------------

  /** Kills every process started here, runs registered cleanups, deletes both namespaces. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.procs].map((p) => p.stop('SIGTERM', 1_500)));
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // keep going: the namespaces must go
      }
    }
    this.deleteNamespaces();
  }

  /** Synchronous teardown for process 'exit' and signal handlers. */
  destroySync(): void {
    if (!this.destroyed) {
      this.destroyed = true;
      for (const p of this.procs) p.kill('SIGKILL');
      for (const fn of this.cleanups.reverse()) {
        try {
          const r = fn();
          if (r instanceof Promise) r.catch(() => {});
        } catch {
          // ignore
        }
      }
    }
    this.deleteNamespaces();
  }

  private deleteNamespaces(): void {
    deleteNamespaceSync(this.srv);
    deleteNamespaceSync(this.cli);
    try {
      rmSync(join(OWNER_DIR, this.id), { force: true });
    } catch {
      // ignore
    }
    liveNets.delete(this);
  }
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
    return this.proc.waitUntil(() => (received().includes(text) ? received() : undefined), timeoutMs, `the echo of ${JSON.stringify(text)}`);
  }

  close(): Promise<unknown> {
    return this.proc.stop('SIGTERM', 1_000);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `iptables -S` and `ip6tables -S` of the root namespace (read only), or null if unusable there. */
export function rootFirewallSnapshot(): { v4: string; v6: string } | null {
  const v4 = spawnSync('iptables', ['-w', '-S'], { encoding: 'utf8', timeout: 10_000 });
  const v6 = spawnSync('ip6tables', ['-w', '-S'], { encoding: 'utf8', timeout: 10_000 });
  if (v4.status !== 0 || v6.status !== 0) return null;
  return { v4: v4.stdout, v6: v6.stdout };
}
