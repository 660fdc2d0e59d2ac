/**
 * The `[metrics]` table of server.toml: off unless it names where the metrics go.
 *
 *   [metrics]
 *   listen = "127.0.0.1:9733"        # serve GET /metrics (Prometheus text format)
 *   textfile = "/var/lib/node_exporter/textfile_collector/knockspa.prom"
 *   textfile_interval = 15            # seconds between writes of the textfile
 * @module
 */
import { isAbsolute } from 'node:path';
import { canonicalIp } from '../../protocol/address.js';
import type { TableReader } from '../config/table-reader.js';

export const METRICS_KEYS = ['listen', 'textfile', 'textfile_interval'] as const;

export interface MetricsConfig {
  readonly listen?: { readonly host: string; readonly port: number };
  readonly textfile?: string;
  readonly textfileIntervalSec: number;
}

/** "127.0.0.1:9733" or "[::1]:9733"; null if it is neither. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const host = canonicalIp(m[1] ?? m[2] ?? '');
  const port = Number(m[3]);
  if (host === null || port < 1 || port > 65535) return null;
  return { host, port };
}

/** The metrics settings, or undefined when there is no [metrics] table (metrics off). */
export function readMetricsConfig(top: TableReader): MetricsConfig | undefined {
  const child = top.child('metrics', METRICS_KEYS);
  if (child === undefined) return undefined;
  const r: TableReader = child; // annotated: TypeScript narrows on `never` methods only then
  const listenText = r.string('listen', undefined);
  const listen = listenText === undefined ? undefined : parseHostPort(listenText);
  if (listen === null) r.fail('listen', 'an address and port like "127.0.0.1:9733" or "[::1]:9733"');
  const textfile = r.string('textfile', undefined);
  if (textfile !== undefined && !(isAbsolute(textfile) && textfile.endsWith('.prom')))
    r.fail('textfile', "an absolute path ending in .prom (node_exporter's textfile collector reads only *.prom)");
  if (listen === undefined && textfile === undefined) r.refuse('listen', 'a [metrics] table needs listen, textfile or both');
  const textfileIntervalSec = r.int('textfile_interval', 1, 3600, 15);
  return { ...(listen === undefined ? {} : { listen }), ...(textfile === undefined ? {} : { textfile }), textfileIntervalSec };
}
