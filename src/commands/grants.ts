/**
 * `knockspa grants`: lists the live grants. The listing is the server's (src/server/list-grants.ts),
 * loaded only when this command runs.
 * @module
 */
import { Command } from 'commander';
import { CONFIG_OPTION } from './config-option.js';

export function command(): Command {
  return new Command('grants')
    .summary('list the live grants: user, address, port, time left')
    .option(...CONFIG_OPTION)
    .option(
      '--from <source>',
      "where to look: firewall (what the kernel holds), state (the daemon's state file) or cluster (the group's shared grants, with [cluster]); default: firewall if the backend can list it",
    )
    .option('--json', 'one JSON object per grant')
    .addHelpText('after', '\nExample:\n  knockspa grants --config /etc/knockspa/server.toml')
    .action(async (opts: { config: string; from?: string; json?: boolean }) => {
      const { runGrants } = await import('../server/list-grants.js');
      process.exitCode = await runGrants(opts);
    });
}
