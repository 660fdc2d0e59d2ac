/**
 * Every firewall backend knockspa has. A new backend is one file that exports its
 * {@link defineBackend} description (dry-run.ts is the smallest) and one line here.
 * @module
 */
import type { Logger } from 'pino';
import type { Backend } from './backend.js';
import { commandBackend } from './command.js';
import { dryRunBackend } from './dry-run.js';
import type { Firewall } from './firewall.js';
import { iptablesBackend } from './iptables.js';
import { nftablesBackend } from './nftables.js';
import type { FirewallSettings } from './settings.js';

export const BACKENDS: readonly Backend[] = [nftablesBackend, iptablesBackend, commandBackend, dryRunBackend];

/** What a config without `firewall` gets. */
export const DEFAULT_BACKEND: string = iptablesBackend.name;

/** Builds the firewall a loaded config chose. */
export function makeFirewall(config: { readonly firewallSettings: FirewallSettings }, log: Logger): Firewall {
  return config.firewallSettings.backend.make({ log });
}
