/**
 * Helpers for driving the real knockspa CLI and daemon inside a {@link TestNet}: temp sites with
 * keys and a config, the daemon with its JSON log, knocks from the client namespace, crafted packets.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseKeyFile, parsePortSpec, ReplayGuard, sealPacket, type Action, type PortSpec } from '../../src/protocol/index.js';
import { currentBootId } from '../../src/server/state/boot-id.js';
import { StateStore, STATE_VERSION } from '../../src/server/state/state.js';
import type { TestNet } from '../lab/netns.js';
import { NODE, run, type LogLine, type NsProcess, type RunResult } from '../lab/process.js';

/** The repository root (this file is dist/test/support/knockspa.js once built). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The knockspa command as it ships: the client bundle (scripts/bundle-cli.ts). */
export const CLI = join(REPO_ROOT, 'dist', 'src', 'knockspa.cjs');
export const SPA_PORT = 62201;
export const SERVER_ID = 'srv.test';

/** Null when the built CLI answers --help; otherwise why the daemon tests cannot run yet. */
export async function cliUnavailableReason(): Promise<string | null> {
  if (!existsSync(CLI)) return `${CLI} not built (npm run build)`;
  const r = await run(null, [NODE, CLI, '--help'], { timeoutMs: 15_000 });
  if (r.code !== 0) return `node ${CLI} --help exited ${r.code}: ${r.stderr.trim()}`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Config

export interface UserConfig {
  ports: string[];
  max_duration?: number;
  require_ip?: boolean;
  format?: 'knockspa' | 'fwknop';
  fwknop_key_base64?: string;
  fwknop_hmac_key_base64?: string;
  ssh_keys?: string[];
  ssh_keys_file?: string;
  require_touch?: boolean;
}

export interface ServerConfigInput {
  listen?: 'udp' | 'pcap';
  address?: string;
  interface?: string;
  port?: number;
  firewall?: 'nftables' | 'iptables' | 'command' | 'dry-run';
  protect?: string[];
  nft_set?: string | string[];
  iptables_jump_position?: number;
  sweep_interval?: number;
  firewall_command?: { open?: string; close?: string };
  server_id?: string;
  keys_dir?: string;
  state_dir?: string;
  max_skew?: number;
  replay_capacity?: number;
  kernel_screen?: boolean;
  server_key?: string;
  default_duration?: number;
  users?: Record<string, UserConfig>;
  metrics?: { listen?: string; textfile?: string; textfile_interval?: number };
}

function tomlValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  throw new Error(`toml: cannot write ${String(v)}`);
}

/** Writes a config as TOML (top-level keys, then tables such as [firewall_command], then one [users.NAME] table each). */
export function toToml(cfg: ServerConfigInput): string {
  const lines: string[] = [];
  const tables: [string, Record<string, unknown>][] = [];
  for (const [k, v] of Object.entries(cfg)) {
    if (k === 'users' || v === undefined) continue;
    if (typeof v === 'object' && !Array.isArray(v)) tables.push([k, v as Record<string, unknown>]);
    else lines.push(`${k} = ${tomlValue(v)}`);
  }
  for (const [name, table] of tables) {
    lines.push('', `[${name}]`);
    for (const [k, v] of Object.entries(table)) if (v !== undefined) lines.push(`${k} = ${tomlValue(v)}`);
  }
  for (const [name, user] of Object.entries(cfg.users ?? {})) {
    lines.push('', `[users.${name}]`);
    for (const [k, v] of Object.entries(user)) if (v !== undefined) lines.push(`${k} = ${tomlValue(v)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A temp directory with keys/, state/ and server.toml, removed at the TestNet's cleanup. */
export class Site {
  readonly keysDir: string;
  readonly stateDir: string;
  readonly configPath: string;
  /** Keys kept outside keys_dir (users the server does not know). */
  readonly otherKeysDir: string;
  config: ServerConfigInput;

  constructor(
    readonly dir: string,
    config: ServerConfigInput,
  ) {
    this.keysDir = join(dir, 'keys');
    this.stateDir = join(dir, 'state');
    this.otherKeysDir = join(dir, 'other-keys');
    this.configPath = join(dir, 'server.toml');
    this.config = config;
  }

  keyPath(user: string): string {
    return join(this.keysDir, `${user}.key`);
  }

  /** (Re)writes server.toml from `config` (merged over the current one). */
  writeConfig(patch: ServerConfigInput = {}): string {
    this.config = { ...this.config, ...patch };
    // 0600: a config with fwknop keys in it must not be readable by others.
    writeFileSync(this.configPath, toToml(this.config), { mode: 0o600 });
    chmodSync(this.configPath, 0o600);
    return this.configPath;
  }

  /** Writes raw text as the config file (for the config-error table). */
  writeRawConfig(text: string): string {
    writeFileSync(this.configPath, text);
    return this.configPath;
  }

  /** Removes the replay/grant state (a fresh daemon). */
  resetState(): void {
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  /**
   * An empty state file of this boot, as a daemon that ran before leaves it: without one, a
   * daemon refuses every knock for max_skew seconds after its start (its replay cache is lost).
   */
  seedState(): void {
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const store = new StateStore(this.stateDir);
    const bootId = currentBootId();
    store.save({
      version: STATE_VERSION,
      replay: new ReplayGuard(1).toState(),
      grants: [],
      maxSkewMs: (this.config.max_skew ?? 30) * 1000,
      notBeforeMs: 0,
      ...(bootId === undefined ? {} : { bootId }),
    });
    store.close();
  }
}

export interface SiteOptions {
  listen?: 'udp' | 'pcap';
  /** Bind address in udp mode; default 0.0.0.0. */
  address?: string;
  users?: Record<string, UserConfig>;
  /** Users to make keys for in keys_dir; default: every configured user not of format "fwknop". */
  keyUsers?: string[];
  extra?: ServerConfigInput;
  /** 'seeded' (default): an empty state file, as after an earlier run; 'none': a first start. */
  state?: 'seeded' | 'none';
}

/** Makes a site for `net`: keys (keygen via the real CLI) and a config matching the contract. */
export async function makeSite(net: TestNet, opts: SiteOptions = {}): Promise<Site> {
  const dir = mkdtempSync(join(tmpdir(), `knockspa-e2e-${net.id}-`));
  net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const users = opts.users ?? { alice: { ports: ['tcp/22'], max_duration: 300, require_ip: false } };
  const listen = opts.listen ?? 'udp';
  const config: ServerConfigInput = {
    listen,
    ...(listen === 'udp' ? { address: opts.address ?? '0.0.0.0' } : { interface: net.srvIf }),
    port: SPA_PORT,
    firewall: 'iptables',
    server_id: SERVER_ID,
    keys_dir: 'keys',
    state_dir: 'state',
    max_skew: 30,
    default_duration: 30,
    ...opts.extra,
    users,
  };
  const site = new Site(dir, config);
  mkdirSync(site.keysDir, { mode: 0o700 });
  mkdirSync(site.otherKeysDir, { mode: 0o700 });
  const knockspaUsers = Object.keys(users).filter((u) => users[u]?.format !== 'fwknop');
  for (const user of opts.keyUsers ?? knockspaUsers) await keygen(site.keysDir, user);
  site.writeConfig();
  if (opts.state !== 'none') site.seedState();
  return site;
}

/** `knockspa keygen --user USER --out DIR --server-id ID`; returns the key file's path. */
export async function keygen(outDir: string, user: string, serverId = SERVER_ID): Promise<string> {
  const r = await run(null, [NODE, CLI, 'keygen', '--user', user, '--out', outDir, '--server-id', serverId], { timeoutMs: 15_000 });
  const file = join(outDir, `${user}.key`);
  if (r.code !== 0 || !existsSync(file)) throw new Error(`keygen ${user} failed: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return file;
}

// ---------------------------------------------------------------------------------------------
// Daemon

export class Daemon {
  constructor(
    readonly proc: NsProcess,
    /** The start event. */
    readonly start: LogLine,
  ) {}

  get log(): LogLine[] {
    return this.proc.json;
  }

  mark(): number {
    return this.proc.mark();
  }

  /** Waits for a log line with this `event` (and matching fields / predicate) at or after `since`. */
  waitEvent(
    event: string,
    match: Record<string, unknown> | ((l: LogLine) => boolean) = {},
    opts: { since?: number; timeoutMs?: number } = {},
  ): Promise<LogLine> {
    const pred = typeof match === 'function' ? match : (l: LogLine): boolean => Object.entries(match).every(([k, v]) => sameValue(l[k], v));
    return this.proc.waitForJson((l) => l.event === event && pred(l), opts);
  }

  /** Log lines with this event since `since`. */
  events(event: string, since = 0): LogLine[] {
    return this.proc.find((l) => l.event === event, since);
  }

  /** SIGTERM (or other signal) and wait for the exit. */
  stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.proc.stop(signal, graceMs);
  }

  /** The daemon's output, for failure messages. */
  describe(): string {
    return this.proc.describe(60);
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Starts `knockspa server --config CONFIG` in the server namespace (after `wrap`, a command that execs the rest); resolves after its start event. */
export async function startDaemon(
  net: TestNet,
  configPath: string,
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; wrap?: readonly string[] } = {},
): Promise<Daemon> {
  const proc = net.spawnIn(net.srv, [...(opts.wrap ?? []), NODE, CLI, 'server', '--config', configPath], { env: opts.env });
  const start = await proc.waitForJson((l) => l.event === 'start', { timeoutMs: opts.timeoutMs ?? 15_000 });
  return new Daemon(proc, start);
}

// ---------------------------------------------------------------------------------------------
// Client

export interface KnockOptions {
  host: string;
  key: string;
  spaPort?: number;
  duration?: number;
  allowIp?: string;
  serverId?: string;
  dumpPacket?: string;
  wait?: boolean;
  waitTimeout?: number;
  /** Namespace to knock from; default the client namespace. */
  ns?: string;
}

/** `knockspa open|close PORT... --host ... --key ...` from the client namespace. */
export function knock(net: TestNet, action: 'open' | 'close', ports: string[], o: KnockOptions): Promise<RunResult> {
  const argv = [NODE, CLI, action, ...ports, '--host', o.host, '--key', o.key, '--spa-port', String(o.spaPort ?? SPA_PORT)];
  if (o.duration !== undefined) argv.push('--duration', String(o.duration));
  if (o.allowIp !== undefined) argv.push('--allow-ip', o.allowIp);
  if (o.serverId !== undefined) argv.push('--server-id', o.serverId);
  if (o.dumpPacket !== undefined) argv.push('--dump-packet', o.dumpPacket);
  if (o.wait === true) argv.push('--wait');
  if (o.waitTimeout !== undefined) argv.push('--wait-timeout', String(o.waitTimeout));
  return net.run(o.ns ?? net.cli, argv, { timeoutMs: 20_000 });
}

/** Like {@link knock} but throws unless the client exits 0. */
export async function knockOk(net: TestNet, action: 'open' | 'close', ports: string[], o: KnockOptions): Promise<RunResult> {
  const r = await knock(net, action, ports, o);
  if (r.code !== 0)
    throw new Error(
      `knockspa ${action} ${ports.join(' ')} exited ${r.code}\nargv: ${r.argv.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  return r;
}

export interface CraftOptions {
  keyFile: string;
  action?: Action;
  ports?: string[];
  timestampMs?: number;
  durationSec?: number;
  allowIp?: string | null;
  serverId?: string;
}

/** Builds a packet in the test itself with the protocol module (for clocks and ids the CLI cannot fake). */
export function craftPacket(o: CraftOptions): Uint8Array {
  const key = parseKeyFile(readFileSync(o.keyFile, 'utf8'));
  const ports: PortSpec[] = (o.ports ?? ['tcp/22']).map((p) => {
    const spec = parsePortSpec(p);
    if (spec === null) throw new Error(`bad port ${p}`);
    return spec;
  });
  return sealPacket(
    key,
    {
      timestampMs: o.timestampMs ?? Date.now(),
      action: o.action ?? 'open',
      ports,
      allowIp: o.allowIp ?? null,
      durationSec: o.durationSec ?? 0,
    },
    new Uint8Array(randomBytes(24)),
    o.serverId ?? key.serverId,
  );
}

// ---------------------------------------------------------------------------------------------
// Assertion helpers

/** Rules an iptables -S INPUT listing has beyond the base ones. */
export function extraRules(rules: string[], base: string[]): string[] {
  return rules.filter((r) => !base.includes(r));
}

/** The rule the daemon is specified to insert for a grant, as `iptables -S KNOCKSPA` prints it, without its comment. */
export function grantRule(ip: string, proto: 'tcp' | 'udp', port: number): string {
  const mask = ip.includes(':') ? 128 : 32;
  return `-A KNOCKSPA -s ${ip}/${mask} -p ${proto} -m ${proto} --dport ${port} -j ACCEPT`;
}

/** The jump from INPUT to knockspa's chain (iptables backend). */
export const JUMP_RULE = '-A INPUT -j KNOCKSPA';

/** A KNOCKSPA rule without its `-m comment --comment "knockspa USER until T"` part. */
export function stripComment(rule: string): string {
  return rule.replace(/ -m comment --comment "[^"]*"/, '');
}

/** The rules of knockspa's chain (iptables -S KNOCKSPA) in ns, as printed; [] if there is no such chain. */
export async function knockspaChain(net: TestNet, family: 4 | 6 = 4): Promise<string[]> {
  const r = await net.run(net.srv, [family === 4 ? 'iptables' : 'ip6tables', '-w', '-S', 'KNOCKSPA']);
  if (r.code !== 0) return [];
  // The kernel screen's standing rules (comment "knockspa screen ...") are not grants.
  return r.stdout.split('\n').filter((l) => l.startsWith('-A ') && !l.includes('knockspa screen '));
}

/** Whether the server namespace has the KNOCKSPA chain at all. */
export async function hasKnockspaChain(net: TestNet, family: 4 | 6 = 4): Promise<boolean> {
  return (await net.run(net.srv, [family === 4 ? 'iptables' : 'ip6tables', '-w', '-S', 'KNOCKSPA'])).code === 0;
}

/** Polls `probe` until it returns true or timeoutMs passes; returns the last result. */
export async function eventually(probe: () => Promise<boolean>, timeoutMs = 3_000, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
