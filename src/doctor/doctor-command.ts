/**
 * `knockspa doctor`: checks the server (default) or, with --client, this client, prints one line
 * per finding and returns the exit code. Each side is loaded only when asked for, so the client
 * check loads no server code.
 * @module
 */
import { UsageError } from '../shared/errors.js';
import { report } from './finding.js';

export interface DoctorOptions {
  readonly config: string;
  readonly client?: boolean;
  readonly key?: string;
  readonly host?: string;
}

export async function runDoctor(profile: string | undefined, opts: DoctorOptions, print: (line: string) => void = console.log): Promise<number> {
  if (opts.client === true) {
    const { clientDoctor } = await import('./client-doctor.js');
    return report(await clientDoctor({ profile, key: opts.key, host: opts.host }), print);
  }
  if (profile !== undefined || opts.key !== undefined || opts.host !== undefined) throw new UsageError('a profile, --key and --host are for --client; on a server: knockspa doctor --config FILE');
  const { serverDoctor } = await import('./server-doctor.js');
  return report(await serverDoctor(opts.config), print);
}
