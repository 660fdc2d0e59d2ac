/**
 * smol-toml's parse error as one line for a config error: "not valid TOML at line L, column C: what".
 * Shared by the client's profile file and the server's config.
 * @module
 */
export function tomlErrorText(err: unknown): string {
  const { message, line, column } = err as Error & { line?: number; column?: number };
  const where = line === undefined ? '' : ` at line ${line}, column ${column ?? 0}`;
  return `not valid TOML${where}: ${message.split('\n')[0] ?? ''}`;
}
