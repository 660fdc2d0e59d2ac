/**
 * Server doctor, fwknop part: the users who knock with fwknop keep their keys in the config file,
 * which must then be private like a key file.
 * @module
 */
import type { ServerConfig } from '../server/config/config.js';
import { ConfigError } from '../shared/errors.js';
import { checkKeysFileMode, MAX_FWKNOP_USERS } from '../server/config/fwknop-users.js';
import { fail, ok, type Finding } from './finding.js';

export function fwknopFindings(config: ServerConfig): Finding[] {
  const n = config.fwknopKeys.size;
  if (n === 0) return [];
  try {
    checkKeysFileMode(config.file, config.fwknopKeys);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [fail(err.expected, `chmod 600 ${config.file}; the daemon refuses to start until then`)];
  }
  return [
    ok(
      `${n} user${n === 1 ? '' : 's'} with format = "fwknop" (of at most ${MAX_FWKNOP_USERS}); their keys are in ${config.file}, mode 600`,
    ),
  ];
}
