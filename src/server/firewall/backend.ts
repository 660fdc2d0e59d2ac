/**
 * What a firewall backend says about itself, in its own file: its name in the config, the config
 * keys it reads and how, what it can do, and how to build it. firewall/registry.ts lists them;
 * nothing else knows one backend from another, so code outside a backend's file asks its
 * capabilities, never its name.
 * @module
 */
import type { Logger } from 'pino';
import type { PortSpec } from '../../protocol/ports.js';
import type { TableReader } from '../config/table-reader.js';
import type { Firewall } from './firewall.js';

export interface Capabilities {
  /**
   * Its entries can be read back from the firewall, by any process (`knockspa grants --from
   * firewall`): a restarted daemon rebuilds its grants from them.
   */
  readonly lists: boolean;
  /** Its entries can outlive a reboot of the machine. */
  readonly outlivesReboot: boolean;
  /** It drops the protected ports itself (setup's `protect`); otherwise the admin's base ruleset must. */
  readonly protectsPorts: boolean;
  /** A grant really lets traffic in (false: it only says what it would do). */
  readonly opensPorts: boolean;
  /** It can drop what cannot be a knock on the SPA port before the socket (firewall/screen.ts); absent: no. */
  readonly screensSpaPort?: boolean;
}

/** What a backend gets besides its settings when it is built. */
export interface BackendContext {
  readonly log: Logger;
}

/** A backend's self-description; `S` is what it reads from the config. */
export interface BackendSpec<S> {
  /** Its `firewall = "..."` value. */
  readonly name: string;
  /** The top-level config keys (and [tables]) only it reads; with another backend each is refused. */
  readonly keys: readonly string[];
  /** Reads its settings from a reader that sees only its keys; throws ConfigError (through the reader). */
  read(r: TableReader): S;
  /** Ports the config says it must drop besides every user's (nftables' `protect`); none if absent. */
  readProtect?(r: TableReader, settings: S): readonly PortSpec[];
  /** Fixed, or depending on its settings (nftables drops ports in its own table, not in the admin's sets). */
  readonly capabilities: Capabilities | ((settings: S) => Capabilities);
  /**
   * Builds it. Its setup, check, list and remove throw SetupError where the firewall does not fit
   * the config (the daemon names the config file), FirewallError where a tool fails.
   */
  make(settings: S, ctx: BackendContext): Firewall;
}

/** The backend a config chose, with what it read there. */
export interface ChosenBackend {
  readonly name: string;
  readonly capabilities: Capabilities;
  /** What it read (a reload that changes it needs a restart); plain data, compared as JSON. */
  readonly settings: unknown;
  make(ctx: BackendContext): Firewall;
}

/** A backend as the registry holds it: its settings' type stays inside. */
export interface Backend {
  readonly name: string;
  readonly keys: readonly string[];
  /** Reads its keys from `r` (a reader of the whole config table); the extra ports it drops, and the choice. */
  choose(r: TableReader): { readonly backend: ChosenBackend; readonly protect: readonly PortSpec[] };
}

export function defineBackend<S>(spec: BackendSpec<S>): Backend {
  return {
    name: spec.name,
    keys: spec.keys,
    choose(whole) {
      const r = whole.only(spec.keys);
      const settings = spec.read(r);
      const protect = spec.readProtect?.(r, settings) ?? [];
      const capabilities = typeof spec.capabilities === 'function' ? spec.capabilities(settings) : spec.capabilities;
      return { backend: { name: spec.name, capabilities, settings, make: (ctx) => spec.make(settings, ctx) }, protect };
    },
  };
}

/**
 * Whether the state file must be fsync'd before an entry goes in: it is the only record of
 * entries that the firewall cannot list back and that a reboot may keep.
 */
export function stateMustBeDurable(capabilities: Capabilities): boolean {
  return capabilities.outlivesReboot && !capabilities.lists;
}
