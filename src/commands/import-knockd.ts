/**
 * `knockspa import-knockd FILE`: prints a knockspa server config translated from a knockd config.
 * The translation is the server's (src/server/import-knockd.ts), loaded only when this command runs.
 * @module
 */
import { Command } from 'commander';

export function command(): Command {
  return new Command('import-knockd')
    .summary('translate a knockd config into a knockspa server config')
    .description(
      'Reads a knockd config and prints an equivalent knockspa server config (TOML) on stdout: doors that add the documents\' iptables ACCEPT rule become user ports, other commands become firewall = "command" templates; doors that cannot be translated are listed on stderr with the reason.',
    )
    .argument('<file>', 'the knockd config, e.g. /etc/knockd.conf')
    .option('--user <name>', "the user who gets the doors' ports (knockd has no users)", 'knocker')
    .option('--server-id <id>', 'server_id to write (default: left out, i.e. the host name)')
    .addHelpText('after', '\nExample:\n  knockspa import-knockd /etc/knockd.conf --user alice > /etc/knockspa/server.toml')
    .action(async (file: string, opts: { user: string; serverId?: string }) => {
      const { runImportKnockd } = await import('../server/import-knockd.js');
      process.exitCode = runImportKnockd(
        file,
        opts,
        (text) => process.stdout.write(text),
        (line) => process.stderr.write(`${line}\n`),
      );
    });
}
