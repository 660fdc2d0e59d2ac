/**
 * The daemon's logger: pino JSON lines on stdout, ISO times, one `event` field per line.
 * Key material never goes in: callers log names, addresses, ports and reasons only.
 * The log events are also the daemon's observation points: {@link onLogEvent} sees each event's
 * fields as it is logged (the metrics and the control channel's status count them).
 * @module
 */
import { pino, type Logger } from 'pino';

export type LogEventListener = (fields: Readonly<Record<string, unknown>>) => void;

const taps = new WeakMap<Logger, Set<LogEventListener>>();

export function createLogger(): Logger {
  const listeners = new Set<LogEventListener>();
  const log = pino({
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    hooks: {
      logMethod(args, method) {
        const fields = args[0];
        if (
          listeners.size > 0 &&
          typeof fields === 'object' &&
          fields !== null &&
          typeof (fields as { event?: unknown }).event === 'string'
        )
          for (const listener of listeners) {
            try {
              listener(fields as Record<string, unknown>);
            } catch {
              // an observer's bug must not cost a log line
            }
          }
        method.apply(this, args);
      },
    },
  });
  taps.set(log, listeners);
  return log;
}

/** Calls `listener` with every event `log` (made by createLogger) logs; returns the unsubscribe. */
export function onLogEvent(log: Logger, listener: LogEventListener): () => void {
  const listeners = taps.get(log);
  listeners?.add(listener);
  return () => void listeners?.delete(listener);
}
