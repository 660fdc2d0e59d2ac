/**
 * `knockspa server`: runs the daemon in the foreground until SIGTERM/SIGINT; SIGHUP reloads.
 * @module
 */
import { ConfigError } from '../shared/errors.js';
import { counted } from '../shared/plural.js';
import { DEFAULT_CONFIG_PATH } from './config/config.js';
import { checkServer, startDaemon, type RunningDaemon } from './daemon.js';
import { FirewallError } from './firewall/firewall.js';
import { removeFirewall } from './remove-firewall.js';
import { createLogger } from './log.js';

export interface ServerCommandOptions {
  readonly config?: string;
  readonly check?: boolean;
  readonly removeFirewall?: boolean;
}

export async function runServer(opts: ServerCommandOptions): Promise<number> {
  const path = opts.config ?? DEFAULT_CONFIG_PATH;
  const log = createLogger();
  try {
    if (opts.check === true) {
      const { config, firewall } = await checkServer(path, log);
      process.stdout.write(
        `${config.file}: ok (${counted(config.users.size, 'user')}, firewall ${config.firewall}, listen ${config.listen} port ${config.port})\n${firewall}\n`,
      );
      return 0;
    }
    if (opts.removeFirewall === true) {
      process.stdout.write(`${await removeFirewall(path, log)}\n`);
      return 0;
    }
    // Handlers first: a TERM that comes while the daemon starts (or right after its start line)
    // must stop it cleanly, not kill it with grants open; a HUP then reloads once it runs.
    let daemon: RunningDaemon | undefined;
    let stopAsked = false;
    let reloadAsked = false;
    const stop = (): void => {
      stopAsked = true;
      void daemon?.stop();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      reloadAsked = daemon === undefined;
      daemon?.reload();
    });
    daemon = await startDaemon(path, log);
    if (stopAsked) void daemon.stop();
    else if (reloadAsked) daemon.reload();
    return await daemon.done;
  } catch (err) {
    // --check and --remove-firewall report to the person at the terminal: one line, not JSON too.
    const oneOff = opts.check === true || opts.removeFirewall === true;
    if (err instanceof ConfigError) {
      if (!oneOff) log.error({ event: 'config-error', message: err.message }, 'invalid configuration');
      process.stderr.write(`knockspa: ${err.message}\n`);
      return 2;
    }
    const denied = err instanceof FirewallError && /permission denied|not permitted/i.test(err.stderr);
    const message =
      err instanceof FirewallError
        ? `firewall unusable: ${err.message}${denied ? ' (run as root, or try the config with firewall = "dry-run")' : ''}`
        : (err as Error).message;
    if (!oneOff) log.error({ event: 'fatal', message }, 'cannot start');
    process.stderr.write(`knockspa: ${message}\n`);
    return 1;
  }
}
