/**
 * The error of a key file (user or server): names the line where it can, never a secret.
 * @module
 */
export class KeyFileError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(line > 0 ? `line ${line}: ${message}` : message);
    this.name = 'KeyFileError';
  }
}
