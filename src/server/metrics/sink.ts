/**
 * What the daemon's parts see of the metrics: inc / set / observe by catalog key. With metrics
 * off it is {@link NO_METRICS}, which does nothing and loads nothing.
 * @module
 */
import type { MetricKey } from './catalog.js';

export type Labels = Readonly<Record<string, string>>;

export interface MetricsSink {
  inc(key: MetricKey, labels?: Labels, by?: number): void;
  set(key: MetricKey, value: number, labels?: Labels): void;
  observe(key: MetricKey, value: number, labels?: Labels): void;
}

export const NO_METRICS: MetricsSink = { inc: () => {}, set: () => {}, observe: () => {} };
