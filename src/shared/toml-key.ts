/**
 * A TOML key as written in a hint: bare when TOML allows it, else quoted (`servers."sctp/22"`).
 * @module
 */

/** `name` as one TOML key segment. */
export function tomlKey(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
}
