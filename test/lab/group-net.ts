/**
 * A group of gateways in the lab: four namespaces on one bridge. The hub holds the bridge and
 * runs Redis; gateways A and B run a daemon each; the client knocks (from two addresses, the
 * second for an eavesdropper). No default routes, nothing reaches the host's own network.
 *
 *   ks-ID-gcl (198.18.1.2, .3) ─┐
 *   ks-ID-gwa (198.18.1.11)  ───┼── bridge in ks-ID-hub (198.18.1.1, Redis)
 *   ks-ID-gwb (198.18.1.12)  ───┘
 *
 * Names start with ks-ID- like a TestNet's, with other roles (which TestNet's sweep of stale
 * namespaces leaves alone); this net deletes its own at cleanup and on process exit.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { AfterContext } from './netns.js';
import { NODE, NsProcess, run, runOk, sleep, type RunOptions, type RunResult } from './process.js';

export const HUB_V4 = '198.18.1.1';
export const GROUP_CLIENT_V4 = '198.18.1.2';
export const GROUP_CLIENT2_V4 = '198.18.1.3';
export const GATEWAY_A_V4 = '198.18.1.11';
export const GATEWAY_B_V4 = '198.18.1.12';

export type GroupRole = 'hub' | 'gwa' | 'gwb' | 'cli';
const ROLES: readonly GroupRole[] = ['hub', 'gwa', 'gwb', 'cli'];
const ADDRESSES: Record<Exclude<GroupRole, 'hub'>, string[]> = {
  gwa: [GATEWAY_A_V4],
  gwb: [GATEWAY_B_V4],
  cli: [GROUP_CLIENT_V4, GROUP_CLIENT2_V4],
};

/** One connect attempt; prints connected, refused, timeout or error. argv: host port timeoutMs [localAddress]. */
const TCP_PROBE = `
const net = require('node:net');
const [host, port, timeoutMs, localAddress] = process.argv.slice(1);
const opts = { host, port: Number(port) };
if (localAddress) opts.localAddress = localAddress;
const s = net.connect(opts);
const done = (o) => { console.log(o); s.destroy(); process.exit(0); };
setTimeout(() => done('timeout'), Number(timeoutMs));
s.on('connect', () => done('connected'));
s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'error'));
`;

/** TCP service on a port, all addresses; prints "listening". argv: port. */
const TCP_SERVICE = `
const net = require('node:net');
net.createServer((s) => { s.on('error', () => {}); s.end('hello\\n'); }).listen(Number(process.argv[1]), '0.0.0.0', () => console.log('listening'));
`;

/** Sends one UDP datagram. argv: host port hex [localAddress]. Prints "sent". */
const UDP_SEND = `
const dgram = require('node:dgram');
const [host, port, hex, localAddress] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
const send = () => s.send(Buffer.from(hex, 'hex'), Number(port), host, (e) => { if (e) { console.error(e.message); process.exit(1); } console.log('sent'); s.close(); });
if (localAddress) s.bind({ address: localAddress, port: 0 }, send); else send();
`;

const live = new Set<GroupNet>();
let handlers = false;

export class GroupNet {
  readonly id: string;
  readonly ns: Record<GroupRole, string>;
  private readonly procs = new Set<NsProcess>();
  private readonly cleanups: Array<() => void | Promise<void>> = [];
  private destroyed = false;

  private constructor(id: string) {
    this.id = id;
    // Not ks-ID-cli: TestNet's sweep of stale namespaces (netns.ts) would take it for one of its own.
    this.ns = { hub: `ks-${id}-hub`, gwa: `ks-${id}-gwa`, gwb: `ks-${id}-gwb`, cli: `ks-${id}-gcl` };
  }

  static async create(t: AfterContext): Promise<GroupNet> {
    if (!handlers) {
      handlers = true;
      process.once('exit', () => {
        for (const net of [...live]) net.destroySync();
      });
    }
    const net = new GroupNet(randomBytes(3).toString('hex'));
    live.add(net);
    t.after(() => net.destroy());
    try {
      await net.setUp();
    } catch (err) {
      await net.destroy();
      throw err;
    }
    return net;
  }

  /** The veth end of `role` in the hub (on the bridge). */
  hubIf(role: Exclude<GroupRole, 'hub'>): string {
    return `ks-${this.id}-h${role.slice(-1)}`;
  }

  /** The veth end inside `role`'s namespace. */
  ownIf(role: Exclude<GroupRole, 'hub'>): string {
    return `ks-${this.id}-${role}`;
  }

  private async setUp(): Promise<void> {
    for (const role of ROLES) {
      await runOk(null, ['ip', 'netns', 'add', this.ns[role]]);
      await runOk(null, ['ip', '-n', this.ns[role], 'link', 'set', 'lo', 'up']);
    }
    const hub = this.ns.hub;
    await runOk(null, ['ip', '-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    await runOk(null, ['ip', '-n', hub, 'addr', 'add', `${HUB_V4}/24`, 'dev', 'br0']);
    await runOk(null, ['ip', '-n', hub, 'link', 'set', 'br0', 'up']);
    for (const role of ['gwa', 'gwb', 'cli'] as const) {
      const own = this.ownIf(role);
      const hubEnd = this.hubIf(role);
      await runOk(null, ['ip', 'link', 'add', own, 'netns', this.ns[role], 'type', 'veth', 'peer', 'name', hubEnd, 'netns', hub]);
      await runOk(null, ['ip', '-n', hub, 'link', 'set', hubEnd, 'master', 'br0']);
      await runOk(null, ['ip', '-n', hub, 'link', 'set', hubEnd, 'up']);
      for (const a of ADDRESSES[role]) await runOk(null, ['ip', '-n', this.ns[role], 'addr', 'add', `${a}/24`, 'dev', own]);
      await runOk(null, ['ip', '-n', this.ns[role], 'link', 'set', own, 'up']);
    }
    // Every port of the bridge up (no STP: a port forwards as soon as it is up).
    for (let i = 0; i < 100; i++) {
      const r = await run(null, ['ip', '-n', hub, '-o', 'link', 'show', 'master', 'br0']);
      if ((r.stdout.match(/state UP/g) ?? []).length === 3) return;
      await sleep(50);
    }
    throw new Error('group net: the bridge ports did not come up');
  }

  /** Cuts (or restores) the link between a namespace and the hub: a partition. */
  async link(role: Exclude<GroupRole, 'hub'>, up: boolean): Promise<void> {
    await runOk(null, ['ip', '-n', this.ns.hub, 'link', 'set', this.hubIf(role), up ? 'up' : 'down']);
  }

  run(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(ns, argv, opts);
  }

  spawnIn(ns: string, argv: readonly string[], opts: { env?: NodeJS.ProcessEnv } = {}): NsProcess {
    const p = new NsProcess(ns, argv, opts);
    this.procs.add(p);
    void p.done.then(() => this.procs.delete(p));
    return p;
  }

  async tcpService(ns: string, port: number): Promise<NsProcess> {
    const p = this.spawnIn(ns, [NODE, '-e', TCP_SERVICE, String(port)]);
    await p.waitForLine((l) => l === 'listening', 10_000);
    return p;
  }

  async connect(fromNs: string, host: string, port: number, timeoutMs = 700, localAddress?: string): Promise<string> {
    const argv = [NODE, '-e', TCP_PROBE, host, String(port), String(timeoutMs), ...(localAddress === undefined ? [] : [localAddress])];
    const r = await run(fromNs, argv, { timeoutMs: timeoutMs + 10_000 });
    return r.stdout.trim();
  }

  async sendUdp(fromNs: string, host: string, port: number, bytes: Uint8Array, localAddress?: string): Promise<void> {
    const hex = Buffer.from(bytes).toString('hex');
    await runOk(fromNs, [NODE, '-e', UDP_SEND, host, String(port), hex, ...(localAddress === undefined ? [] : [localAddress])]);
  }

  onCleanup(fn: () => void | Promise<void>): void {
    this.cleanups.push(fn);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.procs].map((p) => p.stop('SIGTERM', 1_500)));
    for (const fn of this.cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    this.deleteNamespaces();
  }

  private destroySync(): void {
    this.destroyed = true;
    for (const p of this.procs) p.kill('SIGKILL');
    this.deleteNamespaces();
  }

  private deleteNamespaces(): void {
    for (const role of ROLES) {
      const ns = this.ns[role];
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5_000 });
      for (const word of (pids.stdout ?? '').split(/\s+/)) {
        const pid = Number(word);
        if (Number.isInteger(pid) && pid > 1 && pid !== process.pid)
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
      }
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
    }
    live.delete(this);
  }
}
