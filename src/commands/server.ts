/**
 * `knockspa server`: the daemon in the foreground, or with --check / --remove-firewall a one-off.
 * The work is the server's (src/server/run-server.ts), loaded only when this command runs.
 * @module
 */
import { Command } from 'commander';
import { CONFIG_OPTION } from './config-option.js';

export function command(): Command {
  return new Command('server')
    .summary('run the daemon in the foreground')
    .option(...CONFIG_OPTION)
    .option('--check', 'validate config, keys and firewall access, then exit')
    .option('--remove-firewall', 'take out everything knockspa put in the firewall (its table or chain), then exit')
    .addHelpText('after', '\nExample:\n  knockspa server --config /etc/knockspa/server.toml --check')
    .action(async (opts: { config: string; check?: boolean; removeFirewall?: boolean }) => {
      const { runServer } = await import('../server/run-server.js');
      // Exit explicitly: node_pcap's capture handle keeps the event loop alive after close.
      process.exit(await runServer(opts));
    });
}
