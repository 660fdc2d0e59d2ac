/**
 * The metrics with prom-client: one registry holding every metric of the catalog. Imported only
 * when [metrics] is configured.
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { METRICS, type MetricKey, type MetricSpec } from './catalog.js';
import type { Labels, MetricsSink } from './sink.js';

type Metric = Counter | Gauge | Histogram;

export class MetricsRegistry implements MetricsSink {
  readonly registry = new Registry();
  private readonly metrics = new Map<MetricKey, Metric>();

  constructor() {
    for (const [key, spec] of Object.entries(METRICS) as [MetricKey, MetricSpec][]) {
      const common = { name: spec.name, help: spec.help, labelNames: [...(spec.labels ?? [])], registers: [this.registry] };
      const metric =
        spec.kind === 'counter'
          ? new Counter(common)
          : spec.kind === 'gauge'
            ? new Gauge(common)
            : new Histogram({ ...common, buckets: [...(spec.buckets ?? [])] });
      this.metrics.set(key, metric);
    }
  }

  inc(key: MetricKey, labels: Labels = {}, by = 1): void {
    const m = this.metrics.get(key);
    if (m instanceof Counter || m instanceof Gauge) m.inc(labels, by);
  }

  set(key: MetricKey, value: number, labels: Labels = {}): void {
    const m = this.metrics.get(key);
    if (m instanceof Gauge) m.set(labels, value);
  }

  observe(key: MetricKey, value: number, labels: Labels = {}): void {
    const m = this.metrics.get(key);
    if (m instanceof Histogram) m.observe(labels, value);
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
