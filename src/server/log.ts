/**
 * The daemon's logger: pino JSON lines on stdout, ISO times, one `event` field per line.
 * Key material never goes in: callers log names, addresses, ports and reasons only.
 * @module
 */
import { pino, type Logger } from 'pino';

export function createLogger(): Logger {
  return pino({
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
