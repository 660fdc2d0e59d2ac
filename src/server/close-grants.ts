/**
 * `knockspa grants close`: asks the running daemon, over its control socket, to close the live
 * grants a filter names (user, address, port). The daemon closes them like any other (firewall,
 * state, log line `close` with why "admin"); this prints what it closed.
 * @module
 */
import { canonicalIp } from '../protocol/address.js';
import { parsePortSpec } from '../protocol/ports.js';
import { ConfigError, UsageError } from '../shared/errors.js';
import { loadConfig } from './config/config.js';
import { ask, controlSocketPath, NoDaemon } from './control/control-client.js';
import type { ControlRequest } from './control/protocol.js';

export interface CloseGrantsOptions {
  readonly config: string;
  readonly user?: string;
  readonly ip?: string;
  readonly port?: string;
}

function request(opts: CloseGrantsOptions): ControlRequest {
  if (opts.user === undefined && opts.ip === undefined && opts.port === undefined)
    throw new UsageError('grants close: name the grants with --user, --ip and/or --port');
  const ip = opts.ip === undefined ? undefined : canonicalIp(opts.ip);
  if (ip === null) throw new UsageError(`--ip: expected an IPv4 or IPv6 address, got ${JSON.stringify(opts.ip)}`);
  const port = opts.port === undefined ? undefined : parsePortSpec(opts.port);
  if (port === null) throw new UsageError(`--port: expected 22, tcp/22 or udp/53, got ${JSON.stringify(opts.port)}`);
  // "22" means the port on any protocol; "tcp/22" that one.
  const explicitProto = opts.port !== undefined && opts.port.includes('/');
  return {
    op: 'close',
    ...(opts.user === undefined ? {} : { user: opts.user }),
    ...(ip === undefined ? {} : { ip }),
    ...(port === undefined ? {} : { port: port.port, ...(explicitProto ? { proto: port.proto } : {}) }),
  };
}

export async function runCloseGrants(opts: CloseGrantsOptions): Promise<number> {
  try {
    const req = request(opts);
    const config = loadConfig(opts.config);
    const socket = controlSocketPath(config.stateDir);
    const answer = await ask(socket, req);
    if (!answer.ok) throw new Error(`the daemon refused: ${answer.error}`);
    if (!('closed' in answer)) throw new Error('the daemon sent an answer to another question');
    for (const g of answer.closed) process.stdout.write(`closed  ${g.user}  ${g.ip}  ${g.proto}/${g.port}\n`);
    process.stdout.write(`${answer.closed.length} grant${answer.closed.length === 1 ? '' : 's'} closed\n`);
    return 0;
  } catch (err) {
    const hint = err instanceof NoDaemon ? ' (is the daemon running? systemctl status knockspa)' : '';
    process.stderr.write(`knockspa: ${(err as Error).message}${hint}\n`);
    return err instanceof ConfigError || err instanceof UsageError ? 2 : 1;
  }
}
