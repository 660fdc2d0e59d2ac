#!/usr/bin/env node
/**
 * The knockspa command line: the list of commands (each in src/commands/) and the exit codes.
 * UsageError and ConfigError exit 2, any other error 1, each with one line that says what to do.
 * Each command's code is imported only when that command runs (the server's never for a client
 * command). It ships as one CommonJS file holding the client (scripts/bundle-cli.ts); the server
 * and doctor modules stay outside it, for their commands.
 * @module
 */
import { Command, CommanderError } from 'commander';
import { isUsageError } from './shared/errors.js';

/**
 * Every command: its file in src/commands/ builds it (definition and action). Loaded only when
 * needed: `knockspa open` loads just its own; help, a mistyped command's suggestion and --version
 * need them all. A new command is one file there and one line here.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  keygen: async () => (await import('./commands/keygen.js')).command(),
  open: async () => (await import('./commands/knock.js')).command('open'),
  close: async () => (await import('./commands/knock.js')).command('close'),
  connect: async () => (await import('./commands/connect.js')).command(),
  server: async () => (await import('./commands/server.js')).command(),
  grants: async () => (await import('./commands/grants.js')).command(),
  doctor: async () => (await import('./commands/doctor.js')).command(),
  'import-knockd': async () => (await import('./commands/import-knockd.js')).command(),
};

const program = new Command('knockspa')
  .description('Single-packet authorization: ports stay closed until one signed, encrypted, replay-proof UDP packet opens them.')
  .version('0.1.0')
  .showSuggestionAfterError()
  .exitOverride()
  .addHelpText(
    'after',
    '\nExamples:\n  knockspa keygen --user alice --server-id ssh.example.com\n  knockspa open 22 --host ssh.example.com --key keys/alice.key --wait\n  knockspa open myserver                  (a profile in ~/.config/knockspa/config.toml)\n  ssh -o ProxyCommand="knockspa connect %h %p" alice@ssh.example.com\n  knockspa server --config /etc/knockspa/server.toml\n  knockspa doctor                         (on the server: what is wrong, and the fix)',
  );

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

async function main(): Promise<void> {
  const wanted = process.argv[2] ?? '';
  const builders = Object.hasOwn(COMMANDS, wanted) ? [COMMANDS[wanted] as () => Promise<Command>] : Object.values(COMMANDS);
  for (const cmd of await Promise.all(builders.map((build) => build()))) {
    // addCommand does not pass these on; usage errors must exit 2 everywhere.
    program.addCommand(cmd.exitOverride().showSuggestionAfterError().configureOutput({ writeOut }));
  }
  program.configureOutput({ writeOut });
  await program.parseAsync(process.argv);
}

// No top-level await: the shipped CLI is a CommonJS bundle (see scripts/bundle-cli.ts).
main().catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Help and --version are "errors" to commander (exit 0, or 1 if writing them failed); usage mistakes exit 2.
    if (err.exitCode !== 0) process.exitCode = 2;
    return;
  }
  process.stderr.write(`knockspa: ${(err as Error).message}\n`);
  process.exitCode = isUsageError(err) ? 2 : 1;
});
