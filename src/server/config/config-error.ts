/**
 * A configuration error: names the file, the key and what was expected. Exit code 2.
 * @module
 */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly key: string,
    readonly expected: string,
  ) {
    super(key === '' ? `${file}: ${expected}` : `${file}: ${key}: ${expected}`);
    this.name = 'ConfigError';
  }
}

/** JSON-ish rendering of a config value for an error message. */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'a table';
  return String(value);
}
