/**
 * Every metric the daemon exports: name, kind, help and labels. A new metric is one entry here,
 * then `metrics.inc('its_key', labels)` (or set/observe) where it happens (sink.ts; the daemon
 * hands out `observers.metrics`, and `observers.onScrape` for gauges read at scrape time). Loads no
 * metrics library: prom-client is imported only when [metrics] is configured (registry.ts).
 * @module
 */

export interface MetricSpec {
  readonly kind: 'counter' | 'gauge' | 'histogram';
  /** Prometheus name (counters end in _total). */
  readonly name: string;
  readonly help: string;
  readonly labels?: readonly string[];
  /** Histogram bucket bounds. */
  readonly buckets?: readonly number[];
}

export const METRICS = {
  knocksAccepted: {
    kind: 'counter',
    name: 'knockspa_knocks_accepted_total',
    help: 'Knocks accepted (authenticated and authorized), by user and packet format',
    labels: ['user', 'format'],
  },
  rejects: { kind: 'counter', name: 'knockspa_rejects_total', help: 'Packets rejected, by reason', labels: ['reason'] },
  overBudget: {
    kind: 'counter',
    name: 'knockspa_over_budget_drops_total',
    help: "Packets dropped unverified because their source's authentication budget was spent",
  },
  liveGrants: { kind: 'gauge', name: 'knockspa_live_grants', help: 'Grants open now' },
  firewallErrors: {
    kind: 'counter',
    name: 'knockspa_firewall_errors_total',
    help: 'Firewall tool calls that failed, by operation',
    labels: ['op'],
  },
  firewallRepairs: {
    kind: 'counter',
    name: 'knockspa_firewall_repairs_total',
    help: 'Firewall entries put right: missing ones put back, stale ones taken out',
    labels: ['kind'],
  },
  activationSeconds: {
    kind: 'histogram',
    name: 'knockspa_activation_seconds',
    help: "From a knock's arrival to the firewall's answer for the grants it opened",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  },
  stateSaveFailures: { kind: 'counter', name: 'knockspa_state_save_failures_total', help: 'State file writes that failed' },
  listenerLastPacket: {
    kind: 'gauge',
    name: 'knockspa_listener_last_packet_timestamp_seconds',
    help: 'When the listener last delivered a packet to the SPA port (seconds since the epoch; 0: none since start)',
  },
  listenerErrors: {
    kind: 'counter',
    name: 'knockspa_listener_errors_total',
    help: 'Times the listener lost its capture, by reason',
    labels: ['reason'],
  },
  listenerRecoveries: { kind: 'counter', name: 'knockspa_listener_recoveries_total', help: 'Times a lost capture was reopened' },
  listenerDown: { kind: 'gauge', name: 'knockspa_listener_down', help: '1 while the listener cannot receive (a lost capture), else 0' },
  screenDropped: {
    kind: 'counter',
    name: 'knockspa_screen_dropped_total',
    help: "Datagrams to the SPA port the kernel screen dropped before the daemon saw them (the firewall's counters), by reason",
    labels: ['reason'],
  },
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;
