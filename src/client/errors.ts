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
