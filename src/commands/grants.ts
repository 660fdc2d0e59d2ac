/**
 * `knockspa grants`: lists the live grants; `knockspa grants close`: closes some in the running
 * daemon. The work is the server's (src/server/list-grants.ts, src/server/close-grants.ts),
 * loaded only when these commands run.
 * @module
 */
import { Command } from 'commander';
import { CONFIG_OPTION } from './config-option.js';
import { UsageError } from '../shared/errors.js';

/** --config is the parent's (`grants`): commander hands a subcommand's options to the parent first. */
function closeCommand(): Command {
  return new Command('close')
    .summary('close live grants in the running daemon (by user, address and/or port)')
    .configureHelp({ showGlobalOptions: true })
    .option('--user <name>', 'only grants of this user')
    .option('--ip <address>', 'only grants for this address')
    .option('--port <port>', 'only grants on this port: 22 or tcp/22, udp/53')
    .addHelpText('after', '\nAt least one of --user, --ip, --port. Example:\n  knockspa grants close --user alice')
    .action(async (_opts: unknown, cmd: Command) => {
      const { runCloseGrants } = await import('../server/close-grants.js');
      process.exitCode = await runCloseGrants(cmd.optsWithGlobals<{ config: string; user?: string; ip?: string; port?: string }>());
    });
}

export function command(): Command {
  return new Command('grants')
    .summary('list the live grants: user, address, port, time left')
    .option(...CONFIG_OPTION)
    .option(
      '--from <source>',
      "where to look: daemon (ask the running daemon), firewall (what the kernel holds), state (the daemon's state file) or cluster (the group's shared grants, with [cluster]); default: the daemon if it runs, else firewall if the backend can list it",
    )
    .option('--json', 'one JSON object per grant')
    .option('--stats', "instead of the grants: what the kernel screen of the SPA port dropped, per reason (the firewall's counters; root)")
    .addHelpText(
      'after',
      '\nExamples:\n  knockspa grants --config /etc/knockspa/server.toml\n  knockspa grants --stats\n  knockspa grants close --user alice',
    )
    .action(async (opts: { config: string; from?: string; json?: boolean; stats?: boolean }) => {
      if (opts.stats === true) {
        if (opts.from !== undefined) throw new UsageError('--stats reads the firewall; not with --from');
        const { runScreenStats } = await import('../server/screen-stats.js');
        process.exitCode = await runScreenStats(opts);
        return;
      }
      const { runGrants } = await import('../server/list-grants.js');
      process.exitCode = await runGrants(opts);
    })
    .addCommand(closeCommand());
}
