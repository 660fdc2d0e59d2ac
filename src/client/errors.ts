/**
 * Errors the CLI turns into exit codes: UsageError (bad arguments, config, key files) exits 2,
 * anything else exits 1. Messages say what to do next.
 * @module
 */

/**
 * Whether `err` is a usage or config mistake (exit 2). By name, not instanceof: the CLI ships as
 * one bundle with its own copy of these classes, while the server and doctor code it loads apart
 * throws from theirs. ConfigError is the server's; naming it keeps server code off the client path.
 */
export function isUsageError(err: unknown): boolean {
  const name = (err as Error | null)?.name;
  return name === 'UsageError' || name === 'ProfileError' || name === 'ConfigError';
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A mistake in the client's profile file: names the file, the key and what was expected. Exit 2. */
export class ProfileError extends UsageError {
  constructor(
    readonly file: string,
    readonly key: string,
    readonly expected: string,
  ) {
    super(key === '' ? `${file}: ${expected}` : `${file}: ${key}: ${expected}`);
    this.name = 'ProfileError';
  }
}
