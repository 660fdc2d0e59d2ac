/**
 * What a probe's outcome means, in the words `open --wait` and `connect` print: first what the
 * client observed, then (when it observed nothing definite) the likely causes, most likely first.
 * @module
 */
import { KNOCK_HINTS } from './knock.js';
import { sendFailure } from './net-words.js';
import type { ProbeResult } from './probe.js';

export interface ProbeContext {
  /** The address knocked and probed. */
  readonly address: string;
  readonly spaPort: number;
  readonly port: number;
  /** How long the probe was allowed, in seconds. */
  readonly waitedSec: number;
}

/** Lines for a probe that did not connect; the first says what happened. */
export function explainProbe(result: Exclude<ProbeResult, { kind: 'open' }>, c: ProbeContext): string[] {
  switch (result.kind) {
    case 'answered':
      if (result.code === 'ECONNREFUSED')
        return [
          `the port is open for you but nothing listens on tcp/${c.port} at ${c.address} (it answered with a TCP reset): start the service, or check the port`,
        ];
      return [sendFailure(c.address, 'tcp', c.port, { code: result.code, message: result.code })];
    case 'stopped':
      return [
        result.reason,
        `  start it on the server (systemctl start knockspa), or check --host and --spa-port (knocked: udp/${c.spaPort} at ${c.address}; the daemon's is port = N in its config)`,
      ];
    case 'timeout':
      return [
        `tcp/${c.port} did not answer within ${c.waitedSec} s.`,
        `  Observed: the knock left for ${c.address} udp/${c.spaPort} and no error came back; every SYN to tcp/${c.port} went unanswered (dropped on the way or by the server's firewall).`,
        '  Likely causes, most likely first:',
        ...KNOCK_HINTS.map((hint) => `  - ${hint}`),
        '  The server log names the reason for every refused knock.',
      ];
  }
}
