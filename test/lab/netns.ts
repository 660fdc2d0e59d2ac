/**
 * Network namespaces and the veth topology the lab runs in.
 *
 * A {@link TestNet} is two fresh namespaces, a server and a client, joined by a veth pair whose ends
 * are created directly inside them (nothing is ever added to the root namespace). Addresses live only
 * in the RFC 2544 benchmarking range and the IPv6 documentation prefix; there is no default route,
 * so nothing sent from inside can leave the pair. Commands run in them through `ip netns exec`
 * (process.ts), never in the root namespace.
 *
 * Cleanup always runs: per test through `t.after`, and for the whole process on 'exit', SIGINT and
 * SIGTERM, so a crashed run leaves no namespace behind. {@link sweepStale} removes what a run that
 * died harder (SIGKILL) left.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killAllChildrenSync, NsProcess, run, runOk, sleep, type RunOptions, type RunResult } from './process.js';

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

export type Family = 4 | 6;

/** The bit of node:test's TestContext that cleanup hangs on (structural, so the demo can pass its own). */
export interface AfterContext {
  after(fn: () => void | Promise<void>): void;
}

// ---------------------------------------------------------------------------------------------
// Process-wide cleanup and stale namespaces

const liveNets = new Set<TestNet>();
let handlersInstalled = false;

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
    return parsed.map((e: unknown) => (e !== null && typeof e === 'object' && 'name' in e ? String(e.name) : '')).filter((n) => n !== '');
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
    let ownerPid: number | null;
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

/**
 * Names resolved inside namespace `ns` only: `ip netns exec` bind-mounts /etc/netns/NS/hosts over
 * /etc/hosts. Removed at the TestNet's cleanup.
 */
export function nsHosts(net: TestNet, ns: string, lines: string[]): void {
  const dir = join('/etc/netns', ns);
  mkdirSync(dir, { recursive: true });
  net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'hosts'), `127.0.0.1 localhost\n${lines.join('\n')}\n`);
}

/** Re-creates the lab's veth pair as TestNet.create made it (addresses, up). */
export async function recreateLink(net: TestNet): Promise<void> {
  await runOk(null, ['ip', 'link', 'add', net.srvIf, 'netns', net.srv, 'type', 'veth', 'peer', 'name', net.cliIf, 'netns', net.cli]);
  await runOk(null, ['ip', '-n', net.srv, 'addr', 'add', `${net.serverV4}/24`, 'dev', net.srvIf]);
  await runOk(null, ['ip', '-n', net.srv, 'addr', 'add', `${net.serverV6}/64`, 'dev', net.srvIf, 'nodad']);
  await runOk(null, ['ip', '-n', net.cli, 'addr', 'add', `${net.clientV4}/24`, 'dev', net.cliIf]);
  await runOk(null, ['ip', '-n', net.cli, 'addr', 'add', `${net.client2V4}/24`, 'dev', net.cliIf]);
  await runOk(null, ['ip', '-n', net.srv, 'link', 'set', net.srvIf, 'up']);
  await runOk(null, ['ip', '-n', net.cli, 'link', 'set', net.cliIf, 'up']);
}
