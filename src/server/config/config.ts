/**
 * The server config (server.toml): parsed with smol-toml, then validated strictly.
 * Unknown keys are errors, so a typo cannot silently drop a setting. Paths are relative to the file.
 * @module
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { tomlErrorText } from '../../client/toml-error.js';
import { canonicalIp } from '../../protocol/address.js';
import { SERVER_ID, USER_NAME } from '../../protocol/keys.js';
import { MAX_DURATION_SEC } from '../../protocol/body.js';
import { formatPortSpec, parsePortSpec, type PortSpec } from '../../protocol/ports.js';
import type { FwknopKeys } from '../../protocol/fwknop/keys.js';
import { ConfigError, shown } from './config-error.js';
import { FIREWALL_KEYS, readFirewallSettings, type FirewallKind, type FirewallSettings } from '../firewall/settings.js';
import { checkFwknopUsers, FWKNOP_USER_KEYS, readUserFormat, type UserFormat } from './fwknop-users.js';

export type ListenMode = 'udp' | 'pcap';
export type { FirewallKind } from '../firewall/settings.js';

export interface UserPolicy {
  readonly name: string;
  readonly ports: readonly PortSpec[];
  readonly maxDurationSec: number;
  readonly requireIp: boolean;
  /** "knockspa": a key file in keys_dir; "fwknop": fwknop keys in the config (fwknopKeys). */
  readonly format: UserFormat;
}

export interface ServerConfig {
  readonly file: string;
  readonly listen: ListenMode;
  readonly address: string;
  readonly interface: string | undefined;
  readonly port: number;
  readonly firewall: FirewallKind;
  /** The chosen backend's settings (ports to protect, nftables set, jump position, command templates, sweep). */
  readonly firewallSettings: FirewallSettings;
  readonly serverId: string;
  readonly keysDir: string;
  readonly stateDir: string;
  readonly maxSkewSec: number;
  readonly defaultDurationSec: number;
  readonly replayCapacity: number;
  readonly users: ReadonlyMap<string, UserPolicy>;
  /** The keys of the users with format = "fwknop". Secret: never logged. */
  readonly fwknopKeys: ReadonlyMap<string, FwknopKeys>;
}

export const DEFAULT_CONFIG_PATH = '/etc/knockspa/server.toml';
export const DEFAULT_SPA_PORT = 62201;

export type Table = Record<string, unknown>;

/** Reads and checks one table's keys against what is allowed. */
export class TableReader {
  constructor(
    readonly file: string,
    private readonly prefix: string,
    private readonly table: Table,
    allowed: readonly string[],
  ) {
    for (const key of Object.keys(table))
      if (!allowed.includes(key)) throw new ConfigError(file, this.path(key), `unknown key; expected one of ${allowed.join(', ')}`);
  }

  path(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}.${key}`;
  }

  fail(key: string, expected: string): never {
    throw new ConfigError(this.file, this.path(key), `expected ${expected}, got ${shown(this.table[key])}`);
  }

  int(key: string, min: number, max: number, fallback: number): number {
    const v = this.table[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(key, `an integer from ${min} to ${max}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.table[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v;
  }

  string(key: string, fallback: string | undefined): string | undefined {
    const v = this.table[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || v === '') this.fail(key, 'a non-empty string');
    return v;
  }

  oneOf<T extends string>(key: string, choices: readonly T[], fallback: T): T {
    const v = this.table[key] ?? fallback;
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) this.fail(key, `one of ${choices.map((c) => `"${c}"`).join(', ')}`);
    return v as T;
  }

  /** An array of port specs ("22", "tcp/22", "udp/53"), no duplicates; undefined if absent. */
  ports(key: string, required: boolean): PortSpec[] | undefined {
    const raw = this.table[key];
    if (raw === undefined && !required) return undefined;
    if (!Array.isArray(raw) || (required && raw.length === 0)) this.fail(key, `${required ? 'a non-empty' : 'an'} array of ports like ["tcp/22", "udp/53"]`);
    const ports: PortSpec[] = [];
    for (const item of raw) {
      const spec = typeof item === 'string' ? parsePortSpec(item) : null;
      if (spec === null) throw new ConfigError(this.file, this.path(key), `expected ports like "tcp/22" or "udp/53" (1..65535), got ${shown(item)}`);
      if (ports.some((p) => formatPortSpec(p) === formatPortSpec(spec))) throw new ConfigError(this.file, this.path(key), `${formatPortSpec(spec)} listed twice`);
      ports.push(spec);
    }
    return ports;
  }

  /** A reader for the nested table `key` (its own allowed keys), or undefined if absent. */
  child(key: string, allowed: readonly string[]): TableReader | undefined {
    const t = this.table_(key);
    return t === undefined ? undefined : new TableReader(this.file, this.path(key), t, allowed);
  }

  /** The raw value, for readers of shapes this class does not know. */
  value(key: string): unknown {
    return this.table[key];
  }

  table_(key: string): Table | undefined {
    const v = this.table[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) this.fail(key, 'a table');
    return v as Table;
  }
}

const TOP_KEYS = [
  'listen', 'address', 'interface', 'port', 'firewall', 'server_id', 'keys_dir', 'state_dir',
  'max_skew', 'default_duration', 'replay_capacity', 'users', ...FIREWALL_KEYS,
] as const;
const USER_KEYS = ['ports', 'max_duration', 'require_ip', ...FWKNOP_USER_KEYS] as const;

function readUser(file: string, name: string, table: Table, defaultMax: number, fwknopKeys: Map<string, FwknopKeys>): UserPolicy {
  const r: TableReader = new TableReader(file, `users.${name}`, table, USER_KEYS);
  if (!USER_NAME.test(name)) throw new ConfigError(file, `users.${name}`, `expected a user name matching ${USER_NAME}`);
  const { format, fwknopKeys: keys } = readUserFormat(file, name, table);
  if (keys !== undefined) fwknopKeys.set(name, keys);
  return {
    name,
    ports: r.ports('ports', true) as PortSpec[],
    maxDurationSec: r.int('max_duration', 1, MAX_DURATION_SEC, defaultMax),
    requireIp: r.bool('require_ip', false),
    format,
  };
}

/** Validates parsed TOML. Pure apart from the default server id (the host name). */
export function validateConfig(file: string, doc: Table): ServerConfig {
  const r: TableReader = new TableReader(file, "", doc, TOP_KEYS);
  const listen = r.oneOf('listen', ['udp', 'pcap'] as const, 'udp');
  const address = r.string('address', '0.0.0.0') as string;
  if (canonicalIp(address) === null) r.fail('address', 'an IPv4 or IPv6 address to bind ("0.0.0.0", "::" for dual stack)');
  const iface = r.string('interface', undefined);
  if (listen === 'pcap' && iface === undefined) r.fail('interface', 'the interface to sniff when listen = "pcap" (e.g. "eth0")');
  const serverId = r.string('server_id', hostname()) as string;
  if (!SERVER_ID.test(serverId)) r.fail('server_id', 'a host-name-like identity (letters, digits, . _ : -)');
  const base = dirname(file);
  const defaultDurationSec = r.int('default_duration', 1, MAX_DURATION_SEC, 30);
  // No users is allowed (a fresh package install): the daemon then refuses every knock and says so.
  const usersTable = r.table_('users') ?? {};
  const users = new Map<string, UserPolicy>();
  const fwknopKeys = new Map<string, FwknopKeys>();
  for (const [name, value] of Object.entries(usersTable)) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(file, `users.${name}`, `expected a table, got ${shown(value)}`);
    users.set(name, readUser(file, name, value as Table, 300, fwknopKeys));
  }
  checkFwknopUsers(file, fwknopKeys);
  const firewall = r.oneOf('firewall', ['nftables', 'iptables', 'command', 'dry-run'] as const, 'iptables');
  return {
    file,
    listen,
    address,
    interface: iface,
    port: r.int('port', 1, 65535, DEFAULT_SPA_PORT),
    firewall,
    firewallSettings: readFirewallSettings(r, firewall),
    serverId,
    keysDir: resolve(base, r.string('keys_dir', 'keys') as string),
    stateDir: resolve(base, r.string('state_dir', 'state') as string),
    maxSkewSec: r.int('max_skew', 1, 3600, 30),
    defaultDurationSec,
    replayCapacity: r.int('replay_capacity', 1000, 10_000_000, 100_000),
    users,
    fwknopKeys,
  };
}

/** Reads, parses and validates a config file; every failure is a ConfigError naming the file. */
export function loadConfig(path: string): ServerConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, '', `cannot read the config file (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass --config FILE`);
  }
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    throw new ConfigError(file, '', tomlErrorText(err));
  }
  return validateConfig(file, doc);
}
