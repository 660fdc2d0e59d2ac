/**
 * Where the metrics go: GET /metrics on the configured address, and/or a file for
 * node_exporter's textfile collector, written atomically (a temporary file renamed over it)
 * every interval and once more at stop. Gauges that are a reading of the daemon (live grants,
 * the listener's last packet) are read just before each scrape or write.
 * @module
 */
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { ConfigError } from '../../shared/errors.js';
import type { MetricsConfig } from './metrics-config.js';
import { MetricsRegistry } from './registry.js';

export interface MetricsExporter {
  readonly metrics: MetricsRegistry;
  /** The HTTP port bound, when serving. */
  readonly port: number | undefined;
  stop(): Promise<void>;
}

export async function startMetrics(
  file: string,
  config: MetricsConfig,
  /** Sets the readings before a scrape or write; may wait for a tool (never for the packet path). */
  refresh: (m: MetricsRegistry) => void | Promise<void>,
  log: Logger,
): Promise<MetricsExporter> {
  const metrics = new MetricsRegistry();
  const text = async (): Promise<string> => {
    await refresh(metrics);
    return metrics.text();
  };
  let server: Server | undefined;
  if (config.listen !== undefined) {
    const { host, port } = config.listen;
    const s = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; the metrics are at /metrics\n');
        return;
      }
      text().then(
        (body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
      );
    });
    s.requestTimeout = 10_000;
    s.headersTimeout = 5_000;
    s.maxConnections = 16;
    await new Promise<void>((resolve, reject) => {
      s.once('error', (err) => reject(new ConfigError(file, 'metrics.listen', `cannot listen on ${host}:${port}: ${err.message}`)));
      s.listen(port, host, () => resolve());
    });
    s.on('error', (err) => log.error({ event: 'metrics-error', error: err.message }, 'metrics server error'));
    server = s;
  }
  let timer: NodeJS.Timeout | undefined;
  let writing = Promise.resolve();
  const textfile = config.textfile;
  const write = (): Promise<void> =>
    (writing = writing.then(async () => {
      if (textfile === undefined) return;
      const tmp = `${textfile}.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, await text(), { mode: 0o644 });
        renameSync(tmp, textfile);
      } catch (err) {
        log.error({ event: 'metrics-error', file: textfile, error: (err as Error).message }, 'cannot write the metrics textfile');
        try {
          unlinkSync(tmp);
        } catch {
          // never written
        }
      }
    }));
  if (textfile !== undefined) {
    await write();
    timer = setInterval(() => void write(), config.textfileIntervalSec * 1000);
    timer.unref();
  }
  const bound = server?.address();
  return {
    metrics,
    port: typeof bound === 'object' && bound !== null ? bound.port : undefined,
    async stop() {
      clearInterval(timer);
      await write();
      if (server !== undefined) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}
