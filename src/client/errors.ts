/**
 * Errors the CLI turns into exit codes: UsageError (bad arguments, config, key files) exits 2,
 * anything else exits 1. Messages say what to do next.
 * @module
 */
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
