/**
 * `knockspa open` and `knockspa close`: parse the arguments, send one knock, report it,
 * and with --wait probe the TCP port until it answers.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { canonicalIp } from '../protocol/address.js';
import { MAX_DURATION_SEC, type Action } from '../protocol/body.js';
import { MAX_PORTS } from '../protocol/constants.js';
import { SERVER_ID } from '../protocol/keys.js';
import { formatPortSpec, parsePortSpec, type PortSpec } from '../protocol/ports.js';
import { UsageError } from './errors.js';
import { knockFormat, sendFwknopKnock } from './fwknop-knock.js';
import { findKeyFile, loadKeyFile } from './key-file.js';
import { sendKnock } from './knock.js';
import { waitForPort } from './probe.js';

export const DEFAULT_SPA_PORT = 62201;

export interface KnockOptions {
  readonly host: string;
  readonly key?: string;
  readonly spaPort?: string;
  readonly duration?: string;
  readonly allowIp?: string;
  readonly serverId?: string;
  readonly wait?: boolean;
  readonly waitTimeout?: string;
  readonly dumpPacket?: string;
  readonly format?: string;
  readonly fwknopKeyBase64?: string;
  readonly fwknopHmacKeyBase64?: string;
  readonly fwknopUser?: string;
}

function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) throw new UsageError(`${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return Number(value);
}

export function parsePorts(args: readonly string[]): PortSpec[] {
  if (args.length === 0) throw new UsageError('which port? e.g. knockspa open 22 --host HOST');
  if (args.length > MAX_PORTS) throw new UsageError(`at most ${MAX_PORTS} ports per knock, got ${args.length}`);
  const ports: PortSpec[] = [];
  for (const arg of args) {
    const spec = parsePortSpec(arg);
    if (spec === null) throw new UsageError(`port ${JSON.stringify(arg)}: expected 22, tcp/22 or udp/53 (1..65535)`);
    if (!ports.some((p) => formatPortSpec(p) === formatPortSpec(spec))) ports.push(spec);
  }
  return ports;
}

const WAIT_HINTS = [
  'the clocks differ by more than the server\'s max_skew (check: date -u on both sides)',
  'the key is not the one the server has for this user, or is bound to another server id',
  'the user may not open this port (server config [users.NAME] ports)',
  'the SPA port is blocked on the way (a firewall dropping UDP to it), or --spa-port is wrong',
];

export async function runKnock(action: Action, portArgs: readonly string[], opts: KnockOptions, print: (line: string) => void = console.log): Promise<number> {
  const ports = parsePorts(portArgs);
  const spaPort = intOption(opts.spaPort, '--spa-port', 1, 65535) ?? DEFAULT_SPA_PORT;
  const duration = intOption(opts.duration, '--duration', 1, MAX_DURATION_SEC);
  if (action === 'close' && duration !== undefined) throw new UsageError('--duration: a close knock has none');
  const waitTimeout = intOption(opts.waitTimeout, '--wait-timeout', 1, 600) ?? 10;
  let allowIp: string | null = null;
  if (opts.allowIp !== undefined) {
    allowIp = canonicalIp(opts.allowIp);
    if (allowIp === null || allowIp === '0.0.0.0' || allowIp === '::') throw new UsageError(`--allow-ip: expected one IPv4 or IPv6 address, got ${JSON.stringify(opts.allowIp)}`);
  }
  if (opts.serverId !== undefined && !SERVER_ID.test(opts.serverId)) throw new UsageError(`--server-id: expected a host-name-like identity, got ${JSON.stringify(opts.serverId)}`);
  const target = { host: opts.host, spaPort };
  let sent: { address: string; packet: Uint8Array; user: string };
  if (knockFormat(opts) === 'fwknop') {
    sent = await sendFwknopKnock(action, { ports, allowIp, durationSec: duration ?? 0 }, target, opts);
  } else {
    const key = loadKeyFile(findKeyFile(opts.key));
    sent = { ...(await sendKnock(key, { action, ports, allowIp, durationSec: duration ?? 0 }, target, opts.serverId)), user: key.user };
    key.secret.fill(0);
  }
  if (opts.dumpPacket !== undefined) writeFileSync(opts.dumpPacket, sent.packet, { mode: 0o600 });
  const what = ports.map(formatPortSpec).join(' ');
  const forWhom = allowIp ?? "this machine's address as the server sees it";
  const howLong = action === 'open' ? `, ${duration === undefined ? "the server's default time" : `${duration} s`}` : '';
  print(`sent ${action} ${what} for ${forWhom}${howLong} to ${sent.address} udp/${spaPort} as ${sent.user}`);
  if (opts.wait !== true || action === 'close') return 0;
  const tcp = ports.filter((p) => p.proto === 'tcp');
  if (tcp.length === 0) throw new UsageError('--wait probes TCP ports; this knock has none');
  for (const { port } of tcp) {
    const ms = await waitForPort(sent.address, port, waitTimeout * 1000);
    if (ms === null) {
      print(`tcp/${port} did not answer within ${waitTimeout} s. Likely causes:`);
      for (const hint of WAIT_HINTS) print(`  - ${hint}`);
      print('  The server log names the reason for every refused knock.');
      return 1;
    }
    print(`tcp/${port} open after ${ms} ms`);
  }
  return 0;
}
