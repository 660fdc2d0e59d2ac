/**
 * Reads a knockd config (knockd(1), "CONFIGURATION"): `[options]` and one `[door]` section per
 * knock, with `directive = value` lines (names case-insensitive, `#` comments) and bare flags such
 * as `UseSyslog`. Only the syntax is checked here; import-knockd.ts decides what each door means.
 * @module
 */
import { ConfigError } from '../../shared/errors.js';
import { readConfigFile } from './read-config-file.js';

export interface KnockdValue {
  readonly value: string;
  readonly line: number;
}

export interface KnockdSection {
  readonly name: string;
  readonly line: number;
  /** Directive names in lowercase; a bare flag has the value "". */
  readonly directives: ReadonlyMap<string, KnockdValue>;
}

export interface KnockdConfig {
  readonly file: string;
  readonly options: KnockdSection | undefined;
  readonly doors: readonly KnockdSection[];
}

export const DOOR_DIRECTIVES = [
  'sequence',
  'one_time_sequences',
  'seq_timeout',
  'tcpflags',
  'start_command',
  'command',
  'start_command_6',
  'command_6',
  'stop_command',
  'stop_command_6',
  'cmd_timeout',
  'target',
] as const;
export const OPTION_DIRECTIVES = ['usesyslog', 'logfile', 'pidfile', 'interface'] as const;

export function parseKnockdConfig(file: string, text: string): KnockdConfig {
  const sections: Array<{ name: string; line: number; directives: Map<string, KnockdValue> }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = (lines[i] as string).replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[([^\]]+)\]$/.exec(line);
    if (section !== null) {
      const name = (section[1] as string).trim();
      if (sections.some((s) => s.name.toLowerCase() === name.toLowerCase()))
        throw new ConfigError(file, `line ${lineNo}`, `section [${name}] appears twice`);
      sections.push({ name, line: lineNo, directives: new Map() });
      continue;
    }
    const current = sections.at(-1);
    if (current === undefined)
      throw new ConfigError(
        file,
        `line ${lineNo}`,
        `expected a [section] first (e.g. [options] or [openSSH]), got ${JSON.stringify(line)}`,
      );
    const eq = line.indexOf('=');
    const name = (eq < 0 ? line : line.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : line.slice(eq + 1).trim();
    if (!/^[a-z_0-9]+$/.test(name))
      throw new ConfigError(file, `line ${lineNo}`, `expected "directive = value", got ${JSON.stringify(line)}`);
    if (current.directives.has(name))
      throw new ConfigError(file, `[${current.name}] ${name}`, `given twice (lines ${current.directives.get(name)?.line} and ${lineNo})`);
    current.directives.set(name, { value, line: lineNo });
  }
  const options = sections.find((s) => s.name.toLowerCase() === 'options');
  return { file, options, doors: sections.filter((s) => s !== options) };
}

export function loadKnockdConfig(path: string): KnockdConfig {
  const { file, text } = readConfigFile(path, 'the knockd config', 'pass its path, e.g. /etc/knockd.conf');
  return parseKnockdConfig(file, text);
}
