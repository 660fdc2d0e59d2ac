#!/usr/bin/env node
/**
 * The knockspa command line: commander wiring only. Each action returns an exit code;
 * UsageError exits 2, any other error 1, each with one line that says what to do.
 * The server is imported only when `knockspa server` runs, to keep the client light.
 * @module
 */
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from './client/errors.js';
import { runKeygen } from './client/keygen-command.js';
import { runKnock, type KnockOptions } from './client/knock-command.js';

function knockCommand(name: 'open' | 'close', summary: string, example: string): Command {
  const cmd = new Command(name)
    .summary(summary)
    .description(`${summary}. Sends one signed, encrypted UDP packet; the server never answers it.`)
    .argument('<port...>', 'ports: 22, tcp/22 or udp/53 (up to 8)')
    .requiredOption('--host <host>', 'the server (name or address)')
    .option('--key <file>', 'key file (default: $KNOCKSPA_KEY, or the only *.key in ./keys)')
    .option('--spa-port <n>', 'the server\'s SPA port', '62201')
    .option('--allow-ip <ip>', 'open for this address instead of the one the packet comes from')
    .option('--server-id <id>', 'server identity to name in the packet (default: the key file\'s)')
    .option('--format <format>', 'packet format: knockspa, or fwknop to knock a fwknopd (open only)', 'knockspa')
    .option('--fwknop-key-base64 <key>', 'with --format fwknop: KEY_BASE64 from fwknop --key-gen')
    .option('--fwknop-hmac-key-base64 <key>', 'with --format fwknop: HMAC_KEY_BASE64 from fwknop --key-gen')
    .option('--fwknop-user <name>', 'with --format fwknop: the user name field (default: your login name)')
    .addOption(new Option('--dump-packet <file>', 'also write the exact bytes sent to this file').hideHelp())
    .addHelpText('after', `\nExample:\n  ${example}`);
  if (name === 'open') {
    cmd
      .option('--duration <s>', 'seconds to keep it open (default: the server\'s default_duration)')
      .option('--wait', 'then probe the TCP port(s) until they connect')
      .option('--wait-timeout <s>', 'give up waiting after this many seconds', '10');
  }
  return cmd.action(async (ports: string[], opts: KnockOptions) => {
    process.exitCode = await runKnock(name, ports, opts);
  });
}

const program = new Command('knockspa')
  .description('Single-packet authorization: ports stay closed until one signed, encrypted, replay-proof UDP packet opens them.')
  .version('0.1.0')
  .showSuggestionAfterError()
  .exitOverride()
  .addHelpText('after', '\nExamples:\n  knockspa keygen --user alice --server-id ssh.example.com\n  knockspa open 22 --host ssh.example.com --key keys/alice.key --wait\n  knockspa server --config /etc/knockspa/server.toml');

program.addCommand(
  new Command('keygen')
    .summary('make a key file for a user')
    .requiredOption('--user <name>', 'the user the key is for')
    .option('--out <dir>', 'directory to write NAME.key into', 'keys')
    .option('--server-id <id>', 'the server identity the key is bound to (default: this host name)')
    .option('--force', 'replace an existing key file')
    .addHelpText('after', '\nExample:\n  knockspa keygen --user alice --server-id ssh.example.com --out keys')
    .action((opts: { user: string; out: string; serverId?: string; force?: boolean }) => {
      process.exitCode = runKeygen(opts);
    }),
);
program.addCommand(knockCommand('open', 'open ports on a server for you', 'knockspa open 22 --host ssh.example.com --key keys/alice.key --wait'));
program.addCommand(knockCommand('close', 'close ports you opened, before their time is up', 'knockspa close 22 --host ssh.example.com --key keys/alice.key'));
program.addCommand(
  new Command('server')
    .summary('run the daemon in the foreground')
    .option('--config <file>', 'server config (TOML)', '/etc/knockspa/server.toml')
    .option('--check', 'validate config, keys and firewall access, then exit')
    .addHelpText('after', '\nExample:\n  knockspa server --config /etc/knockspa/server.toml --check')
    .action(async (opts: { config: string; check?: boolean }) => {
      const { runServer } = await import('./server/main.js');
      // Exit explicitly: node_pcap's capture handle keeps the event loop alive after close.
      process.exit(await runServer(opts));
    }),
);

// addCommand does not pass these on; usage errors must exit 2 everywhere.
for (const cmd of program.commands) cmd.exitOverride().showSuggestionAfterError();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and --version are "errors" to commander; usage mistakes exit 2.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof UsageError) {
    process.stderr.write(`knockspa: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`knockspa: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
