/**
 * Errors the CLI turns into exit codes: UsageError (bad arguments, key files) and ConfigError (a
 * bad client profile file or server config) exit 2, anything else exits 1. Messages say what to do
 * next. Shared by client, server and doctor; imports nothing from any of them.
 * @module
 */

/**
 * Whether `err` is a usage or config mistake (exit 2). By name, not instanceof: the CLI ships as
 * one bundle with its own copy of these classes, while the server and doctor code it loads apart
 * throws from theirs.
 */
export function isUsageError(err: unknown): boolean {
  const name = (err as Error | null)?.name;
  return name === 'UsageError' || name === 'ConfigError';
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A mistake in a config file (the client's profiles, the server's config): "FILE: KEY: expected…". Exit 2. */
export class ConfigError extends UsageError {
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
  if (value instanceof Date) return String(value); // a TOML date
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'a table';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return typeof value;
}
