/**
 * Reads a config file (server.toml, a knockd config) by its absolute path; a file that cannot be
 * read is a ConfigError naming it, its errno and where to look instead.
 * @module
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../../shared/errors.js';

export function readConfigFile(path: string, what: string, hint: string): { file: string; text: string } {
  const file = resolve(path);
  try {
    return { file, text: readFileSync(file, 'utf8') };
  } catch (err) {
    throw new ConfigError(file, '', `cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? String(err)}); ${hint}`);
  }
}
