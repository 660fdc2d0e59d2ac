/**
 * Picks and builds the firewall backend a config names.
 * @module
 */
import type { Logger } from 'pino';
import type { ServerConfig } from '../config/config.js';
import { CommandFirewall } from './command.js';
import { DryRunFirewall } from './dry-run.js';
import type { Firewall } from './firewall.js';
import { IptablesFirewall } from './iptables.js';
import { NftablesFirewall } from './nftables.js';

export function makeFirewall(config: ServerConfig, log: Logger): Firewall {
  const s = config.firewallSettings;
  switch (config.firewall) {
    case 'nftables':
      return new NftablesFirewall({ sets: s.nftSets, configFile: config.file });
    case 'iptables':
      return new IptablesFirewall({ jumpPosition: s.jumpPosition, configFile: config.file });
    case 'command':
      if (s.command === undefined) throw new Error('firewall = "command" without templates');
      return new CommandFirewall(s.command);
    case 'dry-run':
      return new DryRunFirewall(log);
  }
}
