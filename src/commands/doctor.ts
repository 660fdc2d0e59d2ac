/**
 * `knockspa doctor`: checks the server (default) or, with --client, this client, prints one line
 * per finding and returns the exit code. Each side is loaded only when asked for, so the client
 * check loads no server code. The doctor's modules stay outside the client bundle: import() only.
 * @module
 */
import { Command } from 'commander';
import { UsageError } from '../shared/errors.js';
import { CONFIG_OPTION } from './config-option.js';

export interface DoctorOptions {
  readonly config: string;
  readonly client?: boolean;
  readonly key?: string;
  readonly host?: string;
}

export async function runDoctor(
  profile: string | undefined,
  opts: DoctorOptions,
  print: (line: string) => void = console.log,
): Promise<number> {
  const { report } = await import('../doctor/finding.js');
  if (opts.client === true) {
    const { clientDoctor } = await import('../doctor/client-doctor.js');
    return report(await clientDoctor({ profile, key: opts.key, host: opts.host }), print);
  }
  if (profile !== undefined || opts.key !== undefined || opts.host !== undefined)
    throw new UsageError('a profile, --key and --host are for --client; on a server: knockspa doctor --config FILE');
  const { serverDoctor } = await import('../doctor/server-doctor.js');
  return report(await serverDoctor(opts.config), print);
}

export function command(): Command {
  return new Command('doctor')
    .summary('check this server (or, with --client, this client) and say what to fix')
    .description(
      'Each finding is one line: "ok|warn|fail  what  — fix". Exits 0 when nothing failed, 1 otherwise. On a server: privileges, config, firewall tool, SPA port, pcap, key files, state dir, clock, and whether the base ruleset really drops the protected ports. With --client: profiles, key files, host names, clock.',
    )
    .argument('[profile]', 'with --client: the profile to check (default: every profile)')
    .option(...CONFIG_OPTION)
    .option('--client', 'check this machine as a client')
    .option('--key <file>', 'with --client: a key file to check')
    .option('--host <host>', 'with --client: a server name to resolve')
    .addHelpText('after', '\nExamples:\n  sudo knockspa doctor --config /etc/knockspa/server.toml\n  knockspa doctor --client myserver')
    .action(async (profile: string | undefined, opts: DoctorOptions) => {
      // Exit explicitly: a pcap capture handle keeps the event loop alive after close.
      process.exit(await runDoctor(profile, opts));
    });
}
