/**
 * The server config (server.toml): parsed with smol-toml, then validated strictly.
 * Unknown keys are errors, so a typo cannot silently drop a setting. Paths are relative to the file.
 * @module
 */
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { tomlErrorText } from '../../shared/toml-error.js';
import { canonicalIp } from '../../protocol/address.js';
import { SERVER_ID, USER_NAME } from '../../protocol/keys.js';
import { MAX_DURATION_SEC } from '../../protocol/body.js';
import type { PortSpec } from '../../protocol/ports.js';
import type { FwknopKeys } from '../../protocol/fwknop/keys.js';
import { ConfigError, shown } from '../../shared/errors.js';
import { TableReader, type Table } from './table-reader.js';
import type { Backend } from '../firewall/backend.js';
import { BACKENDS, DEFAULT_BACKEND } from '../firewall/registry.js';
import { firewallKeys, readFirewallSettings, type FirewallSettings } from '../firewall/settings.js';
import { checkFwknopUsers, FWKNOP_USER_KEYS, readUserFormat, type UserFormat } from './fwknop-users.js';
import { readConfigFile } from './read-config-file.js';
import { readMetricsConfig, type MetricsConfig } from '../metrics/metrics-config.js';
import { readClusterSettings, type ClusterSettings } from '../cluster/settings.js';
import { readSshUser, SSH_USER_KEYS, type SshUserKeys } from './ssh-users.js';

export type ListenMode = 'udp' | 'pcap';

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
  /** The backend's name, as in the config (firewall/registry.ts has them all). */
  readonly firewall: string;
  /** The chosen backend (capabilities, settings, how to build it), the ports it protects, the sweep. */
  readonly firewallSettings: FirewallSettings;
  readonly serverId: string;
  readonly keysDir: string;
  readonly stateDir: string;
  readonly maxSkewSec: number;
  readonly defaultDurationSec: number;
  readonly replayCapacity: number;
  /** Grant link-local addresses (169.254/16, fe80::/10) as knock sources and allow-ips. */
  readonly allowLinkLocal: boolean;
  /** Drop what cannot be a knock in the kernel (firewall/screen.ts) where the backend or pcap can. */
  readonly kernelScreen: boolean;
  readonly users: ReadonlyMap<string, UserPolicy>;
  /** The keys of the users with format = "fwknop". Secret: never logged. */
  readonly fwknopKeys: ReadonlyMap<string, FwknopKeys>;
  /** The server's X25519 key file (server_key), read only when a user has SSH keys. */
  readonly serverKeyFile: string;
  /** Users who knock with SSH keys, and their keys. */
  readonly sshUsers: ReadonlyMap<string, SshUserKeys>;
  /** Where the metrics go; undefined: metrics off. */
  readonly metrics?: MetricsConfig;
  /** [cluster]: the Redis a group of gateways shares; undefined: this gateway alone. */
  readonly cluster?: ClusterSettings;
}

export const DEFAULT_CONFIG_PATH = '/etc/knockspa/server.toml';
export const DEFAULT_SPA_PORT = 62201;

const TOP_KEYS = [
  'listen',
  'address',
  'interface',
  'port',
  'server_id',
  'keys_dir',
  'state_dir',
  'max_skew',
  'default_duration',
  'replay_capacity',
  'allow_link_local',
  'kernel_screen',
  'server_key',
  'users',
  'metrics',
  'cluster',
] as const;
const USER_KEYS = ['ports', 'max_duration', 'require_ip', ...FWKNOP_USER_KEYS, ...SSH_USER_KEYS] as const;

function readUser(
  file: string,
  name: string,
  table: Table,
  defaultMax: number,
  fwknopKeys: Map<string, FwknopKeys>,
  sshUsers: Map<string, SshUserKeys>,
  base: string,
): UserPolicy {
  const r: TableReader = new TableReader(file, `users.${name}`, table, USER_KEYS);
  if (!USER_NAME.test(name)) throw new ConfigError(file, `users.${name}`, `expected a user name matching ${USER_NAME}`);
  const ssh = readSshUser(file, name, table, base);
  if (ssh !== undefined) sshUsers.set(name, ssh);
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

/**
 * Validates parsed TOML. Pure apart from the default server id (the host name). `backends`: the
 * firewall backends to choose from (the registry's; tests add their own).
 */
export function validateConfig(file: string, doc: Table, backends: readonly Backend[] = BACKENDS): ServerConfig {
  const r: TableReader = new TableReader(file, '', doc, [...TOP_KEYS, ...firewallKeys(backends)]);
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
  const sshUsers = new Map<string, SshUserKeys>();
  for (const [name, value] of Object.entries(usersTable)) {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new ConfigError(file, `users.${name}`, `expected a table, got ${shown(value)}`);
    users.set(name, readUser(file, name, value as Table, 300, fwknopKeys, sshUsers, base));
  }
  checkFwknopUsers(file, fwknopKeys);
  const firewallSettings = readFirewallSettings(r, backends, DEFAULT_BACKEND);
  const metrics = readMetricsConfig(r);
  return {
    file,
    listen,
    address,
    interface: iface,
    port: r.int('port', 1, 65535, DEFAULT_SPA_PORT),
    firewall: firewallSettings.backend.name,
    firewallSettings,
    serverId,
    keysDir: resolve(base, r.string('keys_dir', 'keys') as string),
    stateDir: resolve(base, r.string('state_dir', 'state') as string),
    maxSkewSec: r.int('max_skew', 1, 3600, 30),
    defaultDurationSec,
    replayCapacity: r.int('replay_capacity', 1000, 10_000_000, 100_000),
    allowLinkLocal: r.bool('allow_link_local', false),
    kernelScreen: r.bool('kernel_screen', true),
    users,
    fwknopKeys,
    serverKeyFile: resolve(base, r.string('server_key', 'server.key') as string),
    sshUsers,
    ...(metrics === undefined ? {} : { metrics }),
    cluster: readClusterSettings(file, base, r.table_('cluster')),
  };
}

/** Reads, parses and validates a config file; every failure is a ConfigError naming the file. */
export function loadConfig(path: string): ServerConfig {
  const { file, text } = readConfigFile(path, 'the config file', 'pass --config FILE');
  let doc: Table;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new ConfigError(file, '', tomlErrorText(err));
  }
  return validateConfig(file, doc);
}
