/**
 * What watches the daemon from outside the pipeline: the listener's health (last packet, lost
 * capture), the metrics (only when [metrics] is configured: prom-client is imported then, not
 * otherwise) and the control socket. They see the daemon through its log events (log.ts), one
 * timestamp per datagram and the applier's answers; nothing here is called by the pipeline.
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { ServerConfig } from './config/config.js';
import { ControlServer } from './control/control-server.js';
import { controlSocketPath } from './control/control-client.js';
import { matches, type DaemonStatus, type GrantRow } from './control/protocol.js';
import type { Applier, Grant } from './grants/applier.js';
import { onLogEvent } from './log.js';
import { countLogEvent } from './metrics/log-events.js';
import { NO_METRICS, type MetricsSink } from './metrics/sink.js';

type Submitter = Pick<Applier, 'submit'>;

const row = ({ user, ip, proto, port, deadlineMs }: GrantRow): GrantRow => ({ user, ip, proto, port, deadlineMs });

export class Observers {
  private lastPacketMs: number | null = null;
  private arrived = 0;
  private listenerError: DaemonStatus['listenerError'] = null;
  private readonly startedMs = Date.now();
  private control: ControlServer | undefined;
  private readonly unsubscribe: () => void;
  private readonly readings: ((m: MetricsSink) => void | Promise<void>)[] = [];

  private constructor(
    private readonly log: Logger,
    /** For the daemon's parts to count what no log event says (NO_METRICS when metrics are off). */
    readonly metrics: MetricsSink,
    private readonly stopMetrics: () => Promise<void>,
  ) {
    this.unsubscribe = onLogEvent(log, (fields) => {
      if (fields['event'] === 'listener-error') this.listenerError = { reason: String(fields['reason']), sinceMs: Date.now() };
      else if (fields['event'] === 'listener-recovered') this.listenerError = null;
      countLogEvent(this.metrics, fields);
    });
  }

  /** Starts the metrics if configured (a bad metrics.listen throws a ConfigError before anything else is set up). */
  static async start(config: ServerConfig, log: Logger, grants: () => number): Promise<Observers> {
    if (config.metrics === undefined) return new Observers(log, NO_METRICS, async () => {});
    const { startMetrics } = await import('./metrics/exporter.js');
    let self: Observers | undefined;
    const exporter = await startMetrics(
      config.file,
      config.metrics,
      async (m) => {
        m.set('liveGrants', grants());
        m.set('listenerLastPacket', (self?.lastPacketMs ?? 0) / 1000);
        await Promise.all((self?.readings ?? []).map(async (read) => read(m)));
      },
      log,
    );
    self = new Observers(log, exporter.metrics, () => exporter.stop());
    return self;
  }

  /**
   * Metrics that are a reading (a size, a state, a kernel counter): `read` sets them just before
   * each scrape or textfile write; an async one (a tool's output) is waited for by the scrape only.
   */
  onScrape(read: (m: MetricsSink) => void | Promise<void>): void {
    if (this.metrics !== NO_METRICS) this.readings.push(read);
  }

  /** A datagram arrived (any, before it is screened). */
  packet(): void {
    this.lastPacketMs = Date.now();
    if (this.metrics !== NO_METRICS) this.arrived = performance.now();
  }

  /** The applier as the pipeline sees it: with metrics on, the activation latency is measured. */
  timed(applier: Submitter): Submitter {
    if (this.metrics === NO_METRICS) return applier;
    return {
      submit: (events, knock, shared) => {
        const arrived = this.arrived; // the pipeline submits while handling the datagram
        const answer = applier.submit(events, knock, shared);
        if (knock?.['action'] === 'open')
          void answer.then((done) => {
            if (done.some(Boolean)) this.metrics.observe('activationSeconds', (performance.now() - arrived) / 1000);
          });
        return answer;
      },
    };
  }

  /**
   * Opens the control socket; without it the daemon still runs (logged). `close` closes the
   * grants `keep` refuses as an admin's and resolves with those closed.
   */
  async serve(
    config: ServerConfig,
    applier: Applier,
    listener: string,
    close: (keep: (grant: Grant) => boolean) => Promise<readonly Grant[]>,
  ): Promise<void> {
    const server = new ControlServer(
      controlSocketPath(config.stateDir),
      {
        status: () => ({
          pid: process.pid,
          startedMs: this.startedMs,
          listener,
          lastPacketMs: this.lastPacketMs,
          listenerError: this.listenerError,
          grants: applier.size,
        }),
        grants: () => applier.grants().map(row),
        close: async (filter) => (await close((g) => !matches(filter, g))).map(row),
      },
      this.log,
    );
    try {
      await server.start();
      this.control = server;
    } catch (err) {
      this.log.error(
        { event: 'control-error', path: server.path, error: (err as Error).message },
        'no control socket: `knockspa grants` reads the firewall or state file, `grants close` cannot work',
      );
    }
  }

  /** First at stop: no admin request races the shutdown. */
  async closeControl(): Promise<void> {
    await this.control?.close();
    this.control = undefined;
  }

  async stop(): Promise<void> {
    await this.closeControl();
    await this.stopMetrics();
    this.unsubscribe();
  }
}
