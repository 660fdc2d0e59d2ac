#!/usr/bin/env node
/**
 * The knockspa command line: commander wiring only. Each action returns an exit code;
 * UsageError and ConfigError exit 2, any other error 1, each with one line that says what to do.
 * Each command's code is imported only when that command runs (the server's never for a client
 * command): start-up time is mostly module loading. It ships as one CommonJS file holding the
 * client (scripts/bundle-cli.ts); the server and doctor modules stay outside it, for their commands.
 * @module
 */
import { Command, CommanderError, Option } from 'commander';
import { isUsageError } from './shared/errors.js';
import type { ConnectOptions } from './client/connect-command.js';
import type { KnockOptions } from './client/knock-command.js';
import type { DoctorOptions } from './doctor/doctor-command.js';

function knockCommand(name: 'open' | 'close', summary: string, example: string): Command {
  const cmd = new Command(name)
    .summary(summary)
    .description(`${summary}. Sends one signed, encrypted UDP packet; the server never answers it.`)
    .usage('[PROFILE] [PORT...] [options]')
    .argument('<profile-or-port...>', 'a profile name (from ~/.config/knockspa/config.toml), then ports: 22, tcp/22 or udp/53 (up to 8; default: the profile\'s)')
    .option('--host <host>', 'the server (name or address); default: the profile\'s')
    .option('--key <file>', 'key file (default: the profile\'s, $KNOCKSPA_KEY, or the only *.key in ./keys)')
    .option('--spa-port <n>', 'the server\'s SPA port (default: the profile\'s, or 62201)')
    .option('--allow-ip <ip>', 'open for this address instead of the one the packet comes from')
    .option('--server-id <id>', 'server identity to name in the packet (default: the key file\'s)')
    .option('--format <format>', 'packet format: knockspa (default), or fwknop to knock a fwknopd (open only; a profile may set it)')
    .option('--fwknop-key-base64 <key>', 'with --format fwknop: KEY_BASE64 from fwknop --key-gen')
    .option('--fwknop-hmac-key-base64 <key>', 'with --format fwknop: HMAC_KEY_BASE64 from fwknop --key-gen')
    .option('--fwknop-user <name>', 'with --format fwknop: the user name field (default: your login name)')
    .addOption(new Option('--dump-packet <file>', 'also write the exact bytes sent to this file').hideHelp())
    .addHelpText('after', `\nA first argument that is not a port (22, tcp/22, udp/53) names a profile; flags override the profile.\n\nExamples:\n  ${example}\n  knockspa ${name} myserver`);
  if (name === 'open') {
    cmd
      .option('--duration <s>', 'seconds to keep it open (default: the server\'s default_duration)')
      .option('--wait', 'then probe the TCP port(s) until they connect')
      .option('--wait-timeout <s>', 'give up waiting after this many seconds', '10');
  }
  return cmd.action(async (ports: string[], opts: KnockOptions) => {
    const { runKnock } = await import('./client/knock-command.js');
    const { exitAfterOutput, printLine } = await import('./client/stdout.js');
    // The knock is out and every line written: end now rather than wait for Node to wind down.
    await exitAfterOutput(await runKnock(name, ports, opts, printLine));
  });
}

const program = new Command('knockspa')
  .description('Single-packet authorization: ports stay closed until one signed, encrypted, replay-proof UDP packet opens them.')
  .version('0.1.0')
  .showSuggestionAfterError()
  .exitOverride()
  .addHelpText('after', '\nExamples:\n  knockspa keygen --user alice --server-id ssh.example.com\n  knockspa open 22 --host ssh.example.com --key keys/alice.key --wait\n  knockspa open myserver                  (a profile in ~/.config/knockspa/config.toml)\n  ssh -o ProxyCommand="knockspa connect %h %p" alice@ssh.example.com\n  knockspa server --config /etc/knockspa/server.toml\n  knockspa doctor                         (on the server: what is wrong, and the fix)');

/** server, grants and doctor read the server's config. */
const CONFIG_OPTION = ['--config <file>', 'server config (TOML)', '/etc/knockspa/server.toml'] as const;

/**
 * Every command, built only when it is needed: `knockspa open` builds just its own (building them
 * all is ~1 ms of its start-up). Help, a mistyped command's suggestion and --version need them all.
 */
const COMMANDS: Readonly<Record<string, () => Command>> = {
  keygen: () =>
    new Command('keygen')
      .summary('make a key file for a user')
      .requiredOption('--user <name>', 'the user the key is for')
      .option('--out <dir>', 'directory to write NAME.key into', 'keys')
      .option('--server-id <id>', 'the server identity the key is bound to (default: this host name)')
      .option('--force', 'replace an existing key file')
      .option('--rotate', 'add a new key beside the user\'s existing ones (NAME.YYYY-MM-DD.key); both work until the old file is removed')
      .addHelpText('after', '\nExamples:\n  knockspa keygen --user alice --server-id ssh.example.com --out keys\n  knockspa keygen --user alice --rotate --out /etc/knockspa/keys')
      .action(async (opts: { user: string; out: string; serverId?: string; force?: boolean; rotate?: boolean }) => {
        const { runKeygen } = await import('./client/keygen-command.js');
        process.exitCode = runKeygen(opts);
      }),
  open: () => knockCommand('open', 'open ports on a server for you', 'knockspa open 22 --host ssh.example.com --key keys/alice.key --wait'),
  close: () => knockCommand('close', 'close ports you opened, before their time is up', 'knockspa close 22 --host ssh.example.com --key keys/alice.key'),
  connect: () =>
    new Command('connect')
      .summary('knock, then relay stdin/stdout to HOST:PORT (for ssh\'s ProxyCommand)')
      .description('Knocks for tcp/PORT, connects (knocking again with a fresh packet while the port stays shut), then relays stdin/stdout to the connection until it closes. Diagnostics go to stderr only. HOST may be a profile name; otherwise a profile whose host is HOST is used, if there is one.')
      .argument('<host>', 'the server (name, address or profile name; ssh passes %h)')
      .argument('<port>', 'the TCP port (ssh passes %p)')
      .option('--profile <name>', 'use this profile (default: the one named HOST, or the one whose host is HOST)')
      .option('--key <file>', 'key file (default: the profile\'s, $KNOCKSPA_KEY, or the only *.key in ./keys)')
      .option('--spa-port <n>', 'the server\'s SPA port (default: the profile\'s, or 62201)')
      .option('--allow-ip <ip>', 'open for this address instead of the one the packet comes from (connects over its address family)')
      .option('--server-id <id>', 'server identity to name in the packet (default: the key file\'s)')
      .option('--duration <s>', 'seconds the port stays open for new connections (default: the server\'s); the session outlives it')
      .option('--attempts <n>', 'knocks to send per address before giving up', '3')
      .option('--timeout <s>', 'seconds to wait for the port after each knock', '3')
      .option('--verbose', 'say on stderr what was sent and when it connected')
      .addHelpText('after', '\nIn ~/.ssh/config:\n  Host myserver\n    HostName ssh.example.com\n    ProxyCommand knockspa connect %h %p\n\nExample:\n  ssh -o ProxyCommand="knockspa connect %h %p --key ~/.config/knockspa/alice.key" alice@ssh.example.com')
      .action(async (host: string, port: string, opts: ConnectOptions) => {
        // Exit at once when the connection is over: stdin may still be open.
        const { runConnect } = await import('./client/connect-command.js');
        process.exit(await runConnect(host, port, opts));
      }),
  server: () =>
    new Command('server')
      .summary('run the daemon in the foreground')
      .option(...CONFIG_OPTION)
      .option('--check', 'validate config, keys and firewall access, then exit')
      .option('--remove-firewall', 'take out everything knockspa put in the firewall (its table or chain), then exit')
      .addHelpText('after', '\nExample:\n  knockspa server --config /etc/knockspa/server.toml --check')
      .action(async (opts: { config: string; check?: boolean; removeFirewall?: boolean }) => {
        const { runServer } = await import('./server/main.js');
        // Exit explicitly: node_pcap's capture handle keeps the event loop alive after close.
        process.exit(await runServer(opts));
      }),
  grants: () =>
    new Command('grants')
      .summary('list the live grants: user, address, port, time left')
      .option(...CONFIG_OPTION)
      .option('--from <source>', 'where to look: firewall (what the kernel holds) or state (the daemon\'s state file); default: firewall if the backend can list it')
      .option('--json', 'one JSON object per grant')
      .addHelpText('after', '\nExample:\n  knockspa grants --config /etc/knockspa/server.toml')
      .action(async (opts: { config: string; from?: string; json?: boolean }) => {
        const { runGrants } = await import('./server/grants-command.js');
        process.exitCode = await runGrants(opts);
      }),
  doctor: () =>
    new Command('doctor')
      .summary('check this server (or, with --client, this client) and say what to fix')
      .description('Each finding is one line: "ok|warn|fail  what  — fix". Exits 0 when nothing failed, 1 otherwise. On a server: privileges, config, firewall tool, SPA port, pcap, key files, state dir, clock, and whether the base ruleset really drops the protected ports. With --client: profiles, key files, host names, clock.')
      .argument('[profile]', 'with --client: the profile to check (default: every profile)')
      .option(...CONFIG_OPTION)
      .option('--client', 'check this machine as a client')
      .option('--key <file>', 'with --client: a key file to check')
      .option('--host <host>', 'with --client: a server name to resolve')
      .addHelpText('after', '\nExamples:\n  sudo knockspa doctor --config /etc/knockspa/server.toml\n  knockspa doctor --client myserver')
      .action(async (profile: string | undefined, opts: DoctorOptions) => {
        const { runDoctor } = await import('./doctor/doctor-command.js');
        // Exit explicitly: a pcap capture handle keeps the event loop alive after close.
        process.exit(await runDoctor(profile, opts));
      }),
  'import-knockd': () =>
    new Command('import-knockd')
      .summary('translate a knockd config into a knockspa server config')
      .description('Reads a knockd config and prints an equivalent knockspa server config (TOML) on stdout: doors that add the documents\' iptables ACCEPT rule become user ports, other commands become firewall = "command" templates; doors that cannot be translated are listed on stderr with the reason.')
      .argument('<file>', 'the knockd config, e.g. /etc/knockd.conf')
      .option('--user <name>', 'the user who gets the doors\' ports (knockd has no users)', 'knocker')
      .option('--server-id <id>', 'server_id to write (default: left out, i.e. the host name)')
      .addHelpText('after', '\nExample:\n  knockspa import-knockd /etc/knockd.conf --user alice > /etc/knockspa/server.toml')
      .action(async (file: string, opts: { user: string; serverId?: string }) => {
        const { runImportKnockd } = await import('./server/import-knockd.js');
        process.exitCode = runImportKnockd(file, opts, (text) => process.stdout.write(text), (line) => process.stderr.write(`${line}\n`));
      }),
};

const wanted = process.argv[2] ?? '';
const builders = Object.hasOwn(COMMANDS, wanted) ? [COMMANDS[wanted] as () => Command] : Object.values(COMMANDS);
for (const build of builders) program.addCommand(build());

/**
 * Help and --version output. A reader that stops early (`knockspa open --help | head`) closes the
 * pipe before commander's second write: as for console.log, that EPIPE is not an error (it was a
 * stack trace). Any other failure (a full disk) is one line and exit 1.
 */
function writeOut(text: string): void {
  if (process.stdout.listenerCount('error') === 0)
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') return;
      process.stderr.write(`knockspa: cannot write to stdout: ${err.message}\n`);
      process.exitCode = 1;
    });
  process.stdout.write(text);
}

program.configureOutput({ writeOut });
// addCommand does not pass these on; usage errors must exit 2 everywhere.
for (const cmd of program.commands) cmd.exitOverride().showSuggestionAfterError().configureOutput({ writeOut });

// No top-level await: the shipped CLI is a CommonJS bundle (see scripts/bundle-cli.ts).
program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Help and --version are "errors" to commander (exit 0, or 1 if writing them failed); usage mistakes exit 2.
    if (err.exitCode !== 0) process.exitCode = 2;
    return;
  }
  process.stderr.write(`knockspa: ${(err as Error).message}\n`);
  process.exitCode = isUsageError(err) ? 2 : 1;
});
