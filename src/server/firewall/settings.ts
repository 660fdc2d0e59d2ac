/**
 * The firewall part of server.toml: `firewall` names a backend of the registry, whose own keys
 * its file reads (backend.ts); `sweep_interval` is for all. A key that only another backend reads
 * is an error, so a config never silently means less than it says.
 * @module
 */
import { formatPortSpec, type PortSpec } from '../../protocol/ports.js';
import { ConfigError } from '../../shared/errors.js';
import type { TableReader } from '../config/table-reader.js';
import type { Backend, ChosenBackend } from './backend.js';
import { SetupError } from './firewall.js';

export interface FirewallSettings {
  /** The chosen backend: its name, capabilities and settings, and how to build it. */
  readonly backend: ChosenBackend;
  /** Ports the backend drops itself besides every port some user may open (nftables' `protect`). */
  readonly protect: readonly PortSpec[];
  /** Seconds between comparing the firewall with the grants (stale entries out, lost ones back). */
  readonly sweepIntervalSec: number;
}

/** The top-level keys the firewall part reads: `firewall`, `sweep_interval` and every backend's. */
export function firewallKeys(backends: readonly Backend[]): string[] {
  return ['firewall', 'sweep_interval', ...new Set(backends.flatMap((b) => b.keys))];
}

/** Reads `firewall` (one of `backends`, `fallback` if absent) and the chosen backend's keys; throws ConfigError. */
export function readFirewallSettings(r: TableReader, backends: readonly Backend[], fallback: string): FirewallSettings {
  const name = r.oneOf(
    'firewall',
    backends.map((b) => b.name),
    fallback,
  );
  const chosen = backends.find((b) => b.name === name) as Backend;
  for (const key of new Set(backends.flatMap((b) => b.keys))) {
    if (chosen.keys.includes(key) || r.value(key) === undefined) continue;
    const takers = backends.filter((b) => b.keys.includes(key)).map((b) => `firewall = "${b.name}"`);
    r.refuse(key, `only with ${takers.join(' or ')}; remove it or change firewall`);
  }
  const { backend, protect } = chosen.choose(r);
  return { backend, protect, sweepIntervalSec: r.int('sweep_interval', 1, 3600, 30) };
}

/**
 * For whoever holds the config file: a backend's SetupError becomes the ConfigError the user sees
 * (naming the file and the key); anything else is thrown as it is. For promise.catch().
 */
export function asConfigError(file: string): (err: unknown) => never {
  return (err) => {
    throw err instanceof SetupError ? new ConfigError(file, err.key, err.expected) : err;
  };
}

/** What knockspa's own nftables table drops: every port some user may open, and `protect`. */
export function protectedPorts(protect: readonly PortSpec[], users: Iterable<{ readonly ports: readonly PortSpec[] }>): PortSpec[] {
  const all = new Map<string, PortSpec>();
  for (const p of protect) all.set(formatPortSpec(p), p);
  for (const user of users) for (const p of user.ports) all.set(formatPortSpec(p), p);
  return [...all.values()].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
}
