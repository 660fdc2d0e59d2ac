/**
 * The firewall part of server.toml: which backend, and the keys only that backend reads
 * (`protect` and `nft_set` for nftables, `iptables_jump_position`, the `[firewall_command]` templates),
 * plus `sweep_interval` for all. A key the chosen backend would ignore is an error, so a config
 * never silently means less than it says.
 * @module
 */
import { formatPortSpec, type PortSpec } from '../../protocol/ports.js';
import { ConfigError, shown } from '../../shared/errors.js';
import type { TableReader } from '../config/config.js';
import { parseTemplate, type CommandTemplate } from './template.js';

export type FirewallKind = 'nftables' | 'iptables' | 'command' | 'dry-run';

export const FIREWALL_KEYS = ['protect', 'nft_set', 'iptables_jump_position', 'firewall_command', 'sweep_interval'] as const;
const COMMAND_KEYS = ['open', 'close'] as const;

/** An nftables set named as `FAMILY TABLE SET`, e.g. "inet filter knockspa". */
export interface NftSetRef {
  readonly family: 'ip' | 'ip6' | 'inet';
  readonly table: string;
  readonly set: string;
}

export interface FirewallSettings {
  /** Ports dropped by knockspa's own nftables table besides every port some user may open. */
  readonly protect: readonly PortSpec[];
  /** nftables: the admin's sets to add elements to; empty means knockspa's own table. */
  readonly nftSets: readonly NftSetRef[];
  /** iptables: the INPUT position of the jump to KNOCKSPA (1 = first). */
  readonly jumpPosition: number;
  readonly command: { readonly open: CommandTemplate; readonly close: CommandTemplate } | undefined;
  /** Seconds between comparing the firewall with the grants (stale entries out, lost ones back). */
  readonly sweepIntervalSec: number;
}

const NFT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

export function parseNftSetRef(text: string): NftSetRef | null {
  const [family, table, set, extra] = text.trim().split(/\s+/);
  if (extra !== undefined || table === undefined || set === undefined) return null;
  if (family !== 'ip' && family !== 'ip6' && family !== 'inet') return null;
  if (!NFT_NAME.test(table) || !NFT_NAME.test(set)) return null;
  return { family, table, set };
}

export function formatNftSetRef(ref: NftSetRef): string {
  return `${ref.family} ${ref.table} ${ref.set}`;
}

function only(r: TableReader, key: string, allowed: boolean, backend: string): void {
  if (r.value(key) !== undefined && !allowed) throw new ConfigError(r.file, key, `only with ${backend}; remove it or change firewall`);
}

function readNftSets(r: TableReader): NftSetRef[] {
  const raw = r.value('nft_set');
  if (raw === undefined) return [];
  const items = typeof raw === 'string' ? [raw] : raw;
  const expected = 'an nftables set as "FAMILY TABLE SET" (e.g. "inet filter knockspa"), or an array of two (one for IPv4, one for IPv6)';
  if (!Array.isArray(items) || items.length === 0 || items.length > 2) r.fail('nft_set', expected);
  return items.map((item: unknown) => {
    const ref = typeof item === 'string' ? parseNftSetRef(item) : null;
    if (ref === null) throw new ConfigError(r.file, 'nft_set', `expected ${expected}, got ${shown(item)}`);
    return ref;
  });
}

function readCommand(r: TableReader): FirewallSettings['command'] {
  const c: TableReader | undefined = r.child('firewall_command', COMMAND_KEYS);
  if (c === undefined) throw new ConfigError(r.file, 'firewall_command', 'a [firewall_command] table with open = "..." and close = "..." when firewall = "command"');
  const template = (key: 'open' | 'close'): CommandTemplate => {
    const text = c.string(key, undefined);
    if (text === undefined) return c.fail(key, 'a command template like "/usr/sbin/iptables -I INPUT -s %IP% -p %PROTO% --dport %PORT% -j ACCEPT"');
    const parsed = parseTemplate(text);
    if (typeof parsed === 'string') throw new ConfigError(r.file, c.path(key), `expected ${parsed}, got ${shown(text)}`);
    return parsed;
  };
  return { open: template('open'), close: template('close') };
}

/** Reads the firewall keys for backend `kind`; throws ConfigError. */
export function readFirewallSettings(r: TableReader, kind: FirewallKind): FirewallSettings {
  only(r, 'protect', kind === 'nftables', 'firewall = "nftables" (its own table)');
  only(r, 'nft_set', kind === 'nftables', 'firewall = "nftables"');
  only(r, 'iptables_jump_position', kind === 'iptables', 'firewall = "iptables"');
  only(r, 'firewall_command', kind === 'command', 'firewall = "command"');
  const nftSets = readNftSets(r);
  if (nftSets.length > 0 && r.value('protect') !== undefined)
    throw new ConfigError(r.file, 'protect', 'not with nft_set: your own ruleset drops the ports; knockspa only fills the set');
  if (nftSets.length === 2 && nftSets.every((s) => s.family === (nftSets[0] as NftSetRef).family && s.family !== 'inet'))
    throw new ConfigError(r.file, 'nft_set', `one set per address family, got two "${(nftSets[0] as NftSetRef).family}" sets`);
  return {
    protect: r.ports('protect', false) ?? [],
    nftSets,
    jumpPosition: r.int('iptables_jump_position', 1, 100_000, 1),
    command: kind === 'command' ? readCommand(r) : undefined,
    sweepIntervalSec: r.int('sweep_interval', 1, 3600, 30),
  };
}

/** What knockspa's own nftables table drops: every port some user may open, and `protect`. */
export function protectedPorts(protect: readonly PortSpec[], users: Iterable<{ readonly ports: readonly PortSpec[] }>): PortSpec[] {
  const all = new Map<string, PortSpec>();
  for (const p of protect) all.set(formatPortSpec(p), p);
  for (const user of users) for (const p of user.ports) all.set(formatPortSpec(p), p);
  return [...all.values()].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
}
