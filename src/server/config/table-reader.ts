/**
 * Reads one table of a TOML config: each key checked against what is allowed, each value against
 * what it must be; every failure a ConfigError naming the file and the key.
 * @module
 */
import { formatPortSpec, parsePortSpec, type PortSpec } from '../../protocol/ports.js';
import { ConfigError, shown } from '../../shared/errors.js';

export type Table = Record<string, unknown>;

/** Reads and checks one table's keys against what is allowed. */
export class TableReader {
  constructor(
    readonly file: string,
    private readonly prefix: string,
    private readonly table: Table,
    allowed: readonly string[],
  ) {
    for (const key of Object.keys(table))
      if (!allowed.includes(key)) throw new ConfigError(file, this.path(key), `unknown key; expected one of ${allowed.join(', ')}`);
  }

  path(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}.${key}`;
  }

  /** "expected X, got Y" about `key`; Y is its value, or `got` (one item of it). */
  fail(key: string, expected: string, got: unknown = this.table[key]): never {
    throw new ConfigError(this.file, this.path(key), `expected ${expected}, got ${shown(got)}`);
  }

  int(key: string, min: number, max: number, fallback: number): number {
    const v = this.table[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(key, `an integer from ${min} to ${max}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.table[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v;
  }

  string(key: string, fallback: string | undefined): string | undefined {
    const v = this.table[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || v === '') this.fail(key, 'a non-empty string');
    return v;
  }

  oneOf<T extends string>(key: string, choices: readonly T[], fallback: T): T {
    const v = this.table[key] ?? fallback;
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v))
      this.fail(key, `one of ${choices.map((c) => `"${c}"`).join(', ')}`);
    return v as T;
  }

  /** An array of port specs ("22", "tcp/22", "udp/53"), no duplicates; undefined if absent. */
  ports(key: string, required: boolean): PortSpec[] | undefined {
    const raw = this.table[key];
    if (raw === undefined && !required) return undefined;
    if (!Array.isArray(raw) || (required && raw.length === 0))
      this.fail(key, `${required ? 'a non-empty' : 'an'} array of ports like ["tcp/22", "udp/53"]`);
    const ports: PortSpec[] = [];
    for (const item of raw) {
      const spec = typeof item === 'string' ? parsePortSpec(item) : null;
      if (spec === null)
        throw new ConfigError(this.file, this.path(key), `expected ports like "tcp/22" or "udp/53" (1..65535), got ${shown(item)}`);
      if (ports.some((p) => formatPortSpec(p) === formatPortSpec(spec)))
        throw new ConfigError(this.file, this.path(key), `${formatPortSpec(spec)} listed twice`);
      ports.push(spec);
    }
    return ports;
  }

  /** A reader for the nested table `key` (its own allowed keys), or undefined if absent. */
  child(key: string, allowed: readonly string[]): TableReader | undefined {
    const t = this.table_(key);
    return t === undefined ? undefined : new TableReader(this.file, this.path(key), t, allowed);
  }

  /** A ConfigError about `key` saying `message` (for what `fail`'s "expected X, got Y" does not fit). */
  refuse(key: string, message: string): never {
    throw new ConfigError(this.file, this.path(key), message);
  }

  /** A reader of the same table that sees only `keys` (what a firewall backend reads: its own keys). */
  only(keys: readonly string[]): TableReader {
    const picked = Object.fromEntries(Object.entries(this.table).filter(([key]) => keys.includes(key)));
    return new TableReader(this.file, this.prefix, picked, keys);
  }

  /** The raw value, for readers of shapes this class does not know. */
  value(key: string): unknown {
    return this.table[key];
  }

  table_(key: string): Table | undefined {
    const v = this.table[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) this.fail(key, 'a table');
    return v as Table;
  }
}
