/**
 * `knockspa open` and `knockspa close`: parse the arguments (a profile name, ports, flags), send one
 * knock, report it, and with --wait probe the TCP port until it answers.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { MAX_DURATION_SEC, type Action } from '../protocol/body.js';
import { MAX_PORTS } from '../protocol/constants.js';
import { formatPortSpec, parsePortSpec, type PortSpec } from '../protocol/ports.js';
import { UsageError } from '../shared/errors.js';
import { loadKeyFile } from './key-file.js';
import { knockFormat } from './knock-format.js';
import { sendKnock } from './knock.js';
import { waitForPort } from './probe.js';
import { getProfile } from './profiles.js';
import { intOption, resolveServer, resolveTarget, splitProfileArg, type ServerFlags } from './target.js';

export interface KnockOptions extends ServerFlags {
  readonly duration?: string;
  readonly wait?: boolean;
  readonly waitTimeout?: string;
  readonly dumpPacket?: string;
  readonly format?: string;
  readonly fwknopKeyBase64?: string;
  readonly fwknopHmacKeyBase64?: string;
  readonly fwknopUser?: string;
}

export function parsePorts(args: readonly string[]): PortSpec[] {
  if (args.length === 0) throw new UsageError('which port? e.g. knockspa open 22 --host HOST, or knockspa open PROFILE');
  if (args.length > MAX_PORTS) throw new UsageError(`at most ${MAX_PORTS} ports per knock, got ${args.length}`);
  const ports: PortSpec[] = [];
  for (const arg of args) {
    const spec = parsePortSpec(arg);
    if (spec === null) throw new UsageError(`port ${JSON.stringify(arg)}: expected 22, tcp/22 or udp/53 (1..65535)`);
    if (!ports.some((p) => formatPortSpec(p) === formatPortSpec(spec))) ports.push(spec);
  }
  return ports;
}

/** What to check when a knock seems to have opened nothing (the server never answers, so the client cannot know). */
export const KNOCK_HINTS = [
  'the clocks differ by more than the server\'s max_skew (check: date -u on both sides)',
  'the key is not the one the server has for this user, or is bound to another server id',
  'the user may not open this port (server config [users.NAME] ports)',
  'the SPA port is blocked on the way (a firewall dropping UDP to it), or --spa-port is wrong',
];

export async function runKnock(action: Action, args: readonly string[], opts: KnockOptions, print: (line: string) => void = console.log): Promise<number> {
  const split = splitProfileArg(args);
  const profile = split.profile === undefined ? undefined : getProfile(split.profile);
  if (profile !== undefined && split.ports.length === 0 && profile.ports === undefined)
    throw new UsageError(`which port? profile ${profile.name} has no ports = [...] in ${profile.file}; add them there or give them: knockspa ${action} ${profile.name} 22`);
  const ports = profile?.ports !== undefined && split.ports.length === 0 ? [...profile.ports] : parsePorts(split.ports);
  const duration = intOption(opts.duration, '--duration', 1, MAX_DURATION_SEC);
  if (action === 'close' && duration !== undefined) throw new UsageError('--duration: a close knock has none');
  const waitTimeout = intOption(opts.waitTimeout, '--wait-timeout', 1, 600) ?? 10;
  let sent: { address: string; packet: Uint8Array; user: string };
  let allowIp: string | null;
  let spaPort: number;
  // Flags win over the profile's fwknop settings.
  const fwOpts: KnockOptions = {
    ...opts,
    format: opts.format ?? profile?.format,
    fwknopKeyBase64: opts.fwknopKeyBase64 ?? profile?.fwknopKeyBase64,
    fwknopHmacKeyBase64: opts.fwknopHmacKeyBase64 ?? profile?.fwknopHmacKeyBase64,
    fwknopUser: opts.fwknopUser ?? profile?.fwknopUser,
  };
  if (knockFormat(fwOpts) === 'fwknop') {
    const server = resolveServer(opts, profile);
    ({ allowIp, spaPort } = server);
    const { sendFwknopKnock } = await import('./fwknop-knock.js');
    sent = await sendFwknopKnock(action, { ports, allowIp, durationSec: duration ?? 0 }, { host: server.host, spaPort }, fwOpts);
  } else {
    const target = resolveTarget(opts, profile);
    const key = loadKeyFile(target.keyFile);
    ({ allowIp, spaPort } = target);
    sent = { ...(await sendKnock(key, { action, ports, allowIp, durationSec: duration ?? 0 }, { host: target.host, spaPort }, target.serverId)), user: key.user };
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
      for (const hint of KNOCK_HINTS) print(`  - ${hint}`);
      print('  The server log names the reason for every refused knock.');
      return 1;
    }
    print(`tcp/${port} open after ${ms} ms`);
  }
  return 0;
}
