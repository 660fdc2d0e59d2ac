/**
 * `knockspa server --remove-firewall`: takes out everything knockspa put in the firewall (its
 * nftables table, its elements in an admin's set, or its iptables chain and jump). Meant for
 * uninstalling, with the daemon stopped: a running daemon would set itself up again.
 * @module
 */
import type { Logger } from 'pino';
import { loadConfig } from './config/config.js';
import { makeFirewall } from './firewall/registry.js';
import { asConfigError } from './firewall/settings.js';

export async function removeFirewall(path: string, log: Logger): Promise<string> {
  const config = loadConfig(path);
  const done = await makeFirewall(config, log).remove().catch(asConfigError(config.file));
  log.info({ event: 'firewall-removed', firewall: config.firewall, done }, done);
  return done;
}
