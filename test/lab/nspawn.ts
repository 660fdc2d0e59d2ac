/**
 * A Debian machine for tests: a root file system made by debootstrap from the host's Debian mirror
 * (cached between runs, keyed by suite, mirror and package list), booted under systemd-nspawn on a
 * throwaway overlay, so every test starts from the same clean root and the cache is never written.
 *
 *   const root = await makeRoot({ suite: 'trixie', packages: ['systemd', 'systemd-sysv', 'dbus'] });
 *   const m = await Machine.create({ root: root.path, netns: net.srv });
 *   await m.prepare(['apt-get', 'update']);   // before boot, on the host's network
 *   await m.boot();                           // systemd as PID 1, in netns net.srv
 *   await m.execOk(['systemctl', 'is-system-running']);
 *   await m.destroy();
 *
 * What works on the development host (Debian 12, systemd 252 as a tool but not as PID 1, cgroup v1
 * hybrid): `systemd-nspawn --boot --register=no --keep-unit` (no machined, no unit of its own);
 * commands go in with nsenter into the container's PID 1 namespaces (machinectl needs machined).
 * With --network-namespace-path nspawn does not grant CAP_NET_ADMIN, so it is asked for
 * explicitly (it only reaches the container's own namespace). docs/operations.md, "Testing under
 * systemd".
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, runOk, sleep, type RunOptions, type RunResult } from './process.js';

/** Where roots and downloaded .debs are kept: $KNOCKSPA_LAB_CACHE or /var/cache/knockspa-lab. */
export function labCacheDir(): string {
  return process.env.KNOCKSPA_LAB_CACHE ?? '/var/cache/knockspa-lab';
}

/**
 * The host's Debian mirror: the first `URIs:` of a deb822 source of Debian's archive
 * (/etc/apt/sources.list.d/debian.sources), else the first `deb` line of /etc/apt/sources.list.
 */
export function hostDebianMirror(): string {
  const deb822 = '/etc/apt/sources.list.d/debian.sources';
  if (existsSync(deb822)) {
    for (const stanza of readFileSync(deb822, 'utf8').split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (uri !== undefined && /^Types:.*\bdeb\b/m.test(stanza) && !/security/.test(uri)) return uri;
    }
  }
  const list = '/etc/apt/sources.list';
  if (existsSync(list)) {
    const uri = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/m.exec(readFileSync(list, 'utf8'))?.[1];
    if (uri !== undefined) return uri;
  }
  throw new Error('no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list');
}

/** Why this host cannot make or boot a lab machine, or null if it can. */
export function nspawnUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  for (const tool of ['/usr/sbin/debootstrap', '/usr/bin/systemd-nspawn', '/usr/bin/nsenter'])
    if (!existsSync(tool)) return `${tool} missing (apt-get install debootstrap systemd-container util-linux)`;
  if (!/\boverlay\b/.test(readFileSync('/proc/filesystems', 'utf8'))) return 'no overlay file system in this kernel';
  return null;
}

export interface RootSpec {
  /** Debian suite, e.g. "trixie". */
  readonly suite: string;
  /** Packages added to debootstrap's minbase (--include). A booted machine needs systemd, systemd-sysv, dbus. */
  readonly packages: readonly string[];
  /** Default: the host's (hostDebianMirror). */
  readonly mirror?: string;
  /**
   * Installed after debootstrap with `apt-get install --no-install-recommends` (in systemd-nspawn, on
   * the host's network): for packages whose dependencies debootstrap's own resolver cannot follow
   * (npm's fail to configure with --include).
   */
  readonly aptPackages?: readonly string[];
}

export interface Root {
  readonly path: string;
  /** False when debootstrap ran now. */
  readonly cached: boolean;
  /** How long making it took (now, or when it was made). */
  readonly seconds: number;
}

/** Bump to make every cached root stale (when what makeRoot does to a root changes). */
const ROOT_FORMAT = 1;

/** A root for spec: from the cache, or made now with debootstrap (minutes) and then cached. */
export async function makeRoot(spec: RootSpec): Promise<Root> {
  const mirror = spec.mirror ?? hostDebianMirror();
  const packages = [...new Set(spec.packages)].sort();
  const aptPackages = spec.aptPackages === undefined ? undefined : [...new Set(spec.aptPackages)].sort();
  // aptPackages only enters the key when given, so roots made without it keep their key.
  const key = createHash('sha256')
    .update(JSON.stringify({ ROOT_FORMAT, suite: spec.suite, mirror, packages, aptPackages }))
    .digest('hex')
    .slice(0, 12);
  const dir = join(labCacheDir(), 'roots', `${spec.suite}-${key}`);
  const done = join(dir, 'made.json');
  if (existsSync(done))
    return { path: join(dir, 'root'), cached: true, seconds: (JSON.parse(readFileSync(done, 'utf8')) as { seconds: number }).seconds };
  mkdirSync(join(labCacheDir(), 'roots'), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const started = Date.now();
  const argv = [
    'debootstrap',
    '--variant=minbase',
    `--include=${packages.join(',')}`,
    '--keyring=/usr/share/keyrings/debian-archive-keyring.gpg',
    spec.suite,
    join(tmp, 'root'),
    mirror,
  ];
  const r = await run(null, argv, { timeoutMs: 30 * 60_000 });
  if (r.code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`debootstrap failed (exit ${r.code}): ${argv.join(' ')}\n${(r.stdout + r.stderr).split('\n').slice(-30).join('\n')}`);
  }
  if (aptPackages !== undefined && aptPackages.length > 0) {
    const nspawn = [
      'systemd-nspawn',
      '--quiet',
      `--directory=${join(tmp, 'root')}`,
      '--register=no',
      '--keep-unit',
      '--pipe',
      '--setenv=DEBIAN_FRONTEND=noninteractive',
      `--setenv=PATH=${PATH}`,
      '--',
    ];
    for (const apt of [
      ['apt-get', 'update', '-qq'],
      ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...aptPackages],
    ]) {
      const a = await run(null, [...nspawn, ...apt], { timeoutMs: 30 * 60_000 });
      if (a.code !== 0) {
        rmSync(tmp, { recursive: true, force: true });
        throw new Error(
          `making the ${spec.suite} root: ${apt.join(' ')} exited ${a.code}\n${(a.stdout + a.stderr).split('\n').slice(-30).join('\n')}`,
        );
      }
    }
  }
  writeFileSync(join(tmp, 'root', 'etc', 'hostname'), 'lab\n');
  // An empty machine-id: each boot makes a fresh one (systemd's "first boot" is not run).
  writeFileSync(join(tmp, 'root', 'etc', 'machine-id'), '');
  // Nothing downloaded stays in the root; downloads go to a shared cache (Machine.create).
  await runOk(null, ['chroot', join(tmp, 'root'), 'apt-get', 'clean']);
  const seconds = Math.round((Date.now() - started) / 1000);
  writeFileSync(
    join(tmp, 'made.json'),
    `${JSON.stringify({ suite: spec.suite, mirror, packages, aptPackages, seconds, made: new Date().toISOString() })}\n`,
  );
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { path: join(dir, 'root'), cached: false, seconds };
}

export interface Bind {
  readonly host: string;
  readonly guest: string;
  readonly readOnly?: boolean;
}

export interface MachineOptions {
  readonly root: string;
  /** Name of a network namespace (/run/netns/NAME) the machine joins; default: the host's network. */
  readonly netns?: string;
  readonly binds?: readonly Bind[];
  /**
   * Directory kept across runs for /var/cache/apt/archives (default: the lab cache's, per root), so
   * packages are downloaded once.
   */
  readonly aptArchives?: string | null;
}

/** Options of {@link Machine.prepare}: cwd is a directory in the machine; extraEnv is added to its environment. */
export type PrepareOptions = Omit<RunOptions, 'cwd' | 'env'> & { cwd?: string; extraEnv?: Record<string, string> };

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const live = new Set<Machine>();
let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', () => {
    for (const m of [...live]) m.destroySync();
  });
}

/** A booted (or, before boot(), prepared) Debian machine on an overlay of a cached root. */
export class Machine {
  readonly name: string;
  private nspawn: ChildProcess | null = null;
  private leader = 0;
  private console = '';
  private destroyed = false;

  private constructor(
    private readonly opts: MachineOptions,
    private readonly dir: string,
    readonly merged: string,
  ) {
    this.name = `ks-lab-${randomBytes(3).toString('hex')}`;
  }

  /** Mounts a fresh overlay over opts.root (nothing is written to the root itself). */
  static async create(opts: MachineOptions): Promise<Machine> {
    installHandlers();
    mkdirSync(join(labCacheDir(), 'runs'), { recursive: true });
    const dir = mkdtempSync(join(labCacheDir(), 'runs', 'm-'));
    for (const d of ['upper', 'work', 'merged']) mkdirSync(join(dir, d));
    const m = new Machine(opts, dir, join(dir, 'merged'));
    live.add(m);
    try {
      await runOk(null, [
        'mount',
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${opts.root},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`,
        m.merged,
      ]);
    } catch (e) {
      m.destroySync();
      throw e;
    }
    return m;
  }

  private nspawnArgs(): string[] {
    const args = ['--quiet', `--directory=${this.merged}`, `--machine=${this.name}`, '--register=no', '--keep-unit'];
    const archives =
      this.opts.aptArchives === undefined
        ? join(labCacheDir(), 'apt-archives', createHash('sha256').update(this.opts.root).digest('hex').slice(0, 12))
        : this.opts.aptArchives;
    if (archives !== null) {
      mkdirSync(join(archives, 'partial'), { recursive: true });
      args.push(`--bind=${archives}:/var/cache/apt/archives`);
    }
    for (const b of this.opts.binds ?? []) args.push(`${b.readOnly === true ? '--bind-ro' : '--bind'}=${b.host}:${b.guest}`);
    return args;
  }

  /**
   * Runs argv in the machine's file system before it boots, on the host's network (apt-get update,
   * downloads): `systemd-nspawn --pipe`, no init.
   */
  async prepare(argv: readonly string[], opts: PrepareOptions = {}): Promise<RunResult> {
    const r = await this.unbooted(argv, opts);
    if (r.code !== 0)
      throw new Error(
        `in ${this.name} (not booted): ${argv.join(' ')} exited ${r.timedOut ? 'after a timeout' : r.code}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`,
      );
    return r;
  }

  /**
   * Like prepare(), but returns whatever argv did. The command sees only nspawn's own environment
   * (PATH, HOME, container=...) plus opts.extraEnv, none of the host's; opts.cwd is a directory in
   * the machine.
   */
  unbooted(argv: readonly string[], opts: PrepareOptions = {}): Promise<RunResult> {
    if (this.nspawn !== null) throw new Error('prepare() and unbooted() are for before boot()');
    const { cwd, extraEnv, ...runOpts } = opts;
    const env = Object.entries({ DEBIAN_FRONTEND: 'noninteractive', PATH, ...extraEnv }).map(([k, v]) => `--setenv=${k}=${v}`);
    const chdir = cwd === undefined ? [] : [`--chdir=${cwd}`];
    return run(null, ['systemd-nspawn', ...this.nspawnArgs(), '--pipe', ...env, ...chdir, '--', ...argv], {
      timeoutMs: 600_000,
      ...runOpts,
    });
  }

  /** Boots systemd and waits until it says the system is running (or degraded: then says why). */
  async boot(timeoutMs = 120_000): Promise<void> {
    const args = ['--boot', ...this.nspawnArgs()];
    if (this.opts.netns !== undefined) args.push(`--network-namespace-path=/run/netns/${this.opts.netns}`, '--capability=CAP_NET_ADMIN');
    const child = spawn('systemd-nspawn', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.nspawn = child;
    const keep = (b: Buffer): void => {
      this.console = (this.console + b.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const deadline = Date.now() + timeoutMs;
    while (this.leader === 0) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`systemd-nspawn exited (${child.exitCode ?? child.signalCode}) before booting:\n${this.console}`);
      if (Date.now() > deadline) throw new Error(`no init in ${this.name} after ${timeoutMs} ms:\n${this.console}`);
      // nspawn's first child is a short-lived helper; the container's init is the child that runs systemd.
      const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')
        .trim()
        .split(' ')
        .filter((c) => c !== '');
      const init = children.find((c) => {
        try {
          return readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'systemd';
        } catch {
          return false;
        }
      });
      if (init !== undefined) this.leader = Number(init);
      else await sleep(50);
    }
    // Until systemd has made /run/systemd/system, systemctl says "offline"; until its private socket
    // is up, it cannot connect at all. Both are early boot, not a verdict.
    const early = (res: RunResult): boolean =>
      res.stdout.trim() === 'offline' || (res.stdout.trim() === '' && /Failed to connect/.test(res.stderr));
    let r = await this.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: Math.max(1000, deadline - Date.now()) });
    while (early(r) && Date.now() < deadline) {
      await sleep(100);
      r = await this.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: Math.max(1000, deadline - Date.now()) });
    }
    const state = r.stdout.trim();
    if (state === 'running') return;
    if (state === 'degraded') {
      const failed = await this.exec(['systemctl', '--failed', '--no-legend', '--plain']);
      process.stderr.write(`# ${this.name} booted degraded; failed units:\n${failed.stdout}`);
      return;
    }
    throw new Error(`${this.name} did not boot: is-system-running says "${state}" ${r.stderr}\nconsole:\n${this.console}`);
  }

  /** Runs argv inside the booted machine (its mount, pid, net, ipc and uts namespaces), clean environment. */
  exec(argv: readonly string[], opts: RunOptions & { extraEnv?: Record<string, string> } = {}): Promise<RunResult> {
    if (this.leader === 0) throw new Error('exec() needs boot() first');
    const env = Object.entries({
      PATH,
      HOME: '/root',
      LANG: 'C.UTF-8',
      TERM: 'dumb',
      DEBIAN_FRONTEND: 'noninteractive',
      ...opts.extraEnv,
    }).map(([k, v]) => `${k}=${v}`);
    const { extraEnv: _unused, ...runOpts } = opts;
    return run(
      null,
      ['nsenter', `--target=${this.leader}`, '--mount', '--uts', '--ipc', '--net', '--pid', '--', '/usr/bin/env', '-i', ...env, ...argv],
      { timeoutMs: 120_000, ...runOpts },
    );
  }

  /** Like exec, but throws unless argv exits 0. */
  async execOk(argv: readonly string[], opts: RunOptions & { extraEnv?: Record<string, string> } = {}): Promise<RunResult> {
    const r = await this.exec(argv, opts);
    if (r.code !== 0)
      throw new Error(
        `in ${this.name}: ${argv.join(' ')} exited ${r.timedOut ? 'after a timeout' : r.code}\nstdout: ${r.stdout.slice(-4000)}\nstderr: ${r.stderr.slice(-4000)}`,
      );
    return r;
  }

  /** A shell line inside the machine (`sh -ec LINE`), for commands written for people (the README). */
  shell(line: string, opts: RunOptions & { cwd?: string; extraEnv?: Record<string, string> } = {}): Promise<RunResult> {
    const { cwd, ...rest } = opts; // a directory in the machine, not for spawning nsenter on the host
    const cd = cwd === undefined ? '' : `cd '${cwd}' && `;
    return this.exec(['sh', '-ec', `${cd}${line}`], rest);
  }

  /** The last of what the machine printed on its console. */
  consoleTail(): string {
    return this.console;
  }

  /** Powers off (SIGTERM to nspawn: an orderly shutdown), unmounts, deletes the overlay. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const child = this.nspawn;
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    this.destroySync();
  }

  /** The synchronous last resort (process exit): SIGKILL, lazy unmount, delete. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    if (this.nspawn !== null && this.nspawn.exitCode === null && this.nspawn.signalCode === null) this.nspawn.kill('SIGKILL');
    for (let i = 0; i < 20; i++) {
      if (spawnSync('mountpoint', ['-q', this.merged]).status !== 0) break;
      if (spawnSync('umount', [this.merged]).status !== 0) {
        if (i === 19) spawnSync('umount', ['-l', this.merged]);
        else spawnSync('sleep', ['0.1']);
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
