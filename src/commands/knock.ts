/**
 * `knockspa open` and `knockspa close`: parse the arguments (a profile name, ports, flags), send one
 * knock, report it, and with --wait probe the TCP port until it answers.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { MAX_DURATION_SEC, type Action } from '../protocol/body.js';
import { MAX_PORTS } from '../protocol/constants.js';
import { formatPortSpec, parsePortSpec, type PortSpec } from '../protocol/ports.js';
import { UsageError } from '../shared/errors.js';
import { knockFormat } from '../client/knock-format.js';
import { openKnocker } from '../client/knocker.js';
import { KnockWatch } from '../client/knock-watch.js';
import { probePort } from '../client/probe.js';
import { explainProbe } from '../client/probe-report.js';
import { exitAfterOutput, printLine } from '../client/stdout.js';
import { getProfile } from '../client/profiles.js';
import { intOption, resolveServer, splitProfileArg, type ServerFlags } from '../client/target.js';

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

export async function runKnock(
  action: Action,
  args: readonly string[],
  opts: KnockOptions,
  print: (line: string) => void = console.log,
): Promise<number> {
  const split = splitProfileArg(args);
  const profile = split.profile === undefined ? undefined : getProfile(split.profile);
  if (profile !== undefined && split.ports.length === 0 && profile.ports === undefined)
    throw new UsageError(
      `which port? profile ${profile.name} has no ports = [...] in ${profile.file}; add them there or give them: knockspa ${action} ${profile.name} 22`,
    );
  const ports = profile?.ports !== undefined && split.ports.length === 0 ? [...profile.ports] : parsePorts(split.ports);
  const duration = intOption(opts.duration, '--duration', 1, MAX_DURATION_SEC);
  if (action === 'close' && duration !== undefined) throw new UsageError('--duration: a close knock has none');
  const waitTimeout = intOption(opts.waitTimeout, '--wait-timeout', 1, 600) ?? 10;
  const probing = opts.wait === true && action === 'open';
  // Before sending: a knock sent and then refused for a usage mistake would still open the ports.
  const tcp = ports.filter((p) => p.proto === 'tcp');
  if (probing && tcp.length === 0) throw new UsageError('--wait probes TCP ports; this knock has none (drop --wait for udp ports)');
  // With --wait the knock's socket stays open to hear an ICMP port-unreachable (no daemon listening).
  const watch = probing ? new KnockWatch() : undefined;
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
    const { sendFwknopKnock } = await import('../client/fwknop-knock.js');
    sent = await sendFwknopKnock(action, { ports, allowIp, durationSec: duration ?? 0 }, { host: server.host, spaPort }, fwOpts);
  } else {
    const server = resolveServer(opts, profile);
    ({ allowIp, spaPort } = server);
    const knocker = await openKnocker(opts, profile);
    try {
      sent = {
        ...(await knocker.knock({ action, ports, allowIp, durationSec: duration ?? 0 }, { host: server.host, spaPort }, watch?.send)),
        user: knocker.who,
      };
    } finally {
      knocker.close();
    }
  }
  if (opts.dumpPacket !== undefined) writeFileSync(opts.dumpPacket, sent.packet, { mode: 0o600 });
  const what = ports.map(formatPortSpec).join(' ');
  const forWhom = allowIp ?? "this machine's address as the server sees it";
  const howLong =
    action === 'open' ? `, ${duration === undefined ? "the server's default time" : `asked ${duration} s (the server may cap it)`}` : '';
  print(`sent ${action} ${what} for ${forWhom}${howLong} to ${sent.address} udp/${spaPort} as ${sent.user}`);
  if (watch === undefined) return 0;
  try {
    for (const { port } of tcp) {
      const result = await probePort(sent.address, port, waitTimeout * 1000, watch.refused);
      if (result.kind !== 'open') {
        for (const line of explainProbe(result, { address: sent.address, spaPort, port, waitedSec: waitTimeout })) print(line);
        return 1;
      }
      result.socket.destroy();
      print(`tcp/${port} open after ${result.ms} ms`);
    }
  } finally {
    watch.close();
  }
  return 0;
}

export function command(name: Action): Command {
  const summary = name === 'open' ? 'open ports on a server for you' : 'close ports you opened, before their time is up';
  const example =
    name === 'open'
      ? 'knockspa open 22 --host ssh.example.com --ssh-key ~/.ssh/id_ed25519.pub --server-key PUBLIC --wait\n  knockspa open 22 --host ssh.example.com --key keys/alice.key --wait'
      : 'knockspa close 22 --host ssh.example.com --key keys/alice.key';
  const cmd = new Command(name)
    .summary(summary)
    .description(`${summary}. Sends one signed, encrypted UDP packet; the server never answers it.`)
    .usage('[PROFILE] [PORT...] [options]')
    .argument(
      '<profile-or-port...>',
      "a profile name (from ~/.config/knockspa/config.toml), then ports: 22, tcp/22 or udp/53 (up to 8; default: the profile's)",
    )
    .option('--host <host>', "the server (name or address); default: the profile's")
    .option('--key <file>', "key file (default: the profile's, $KNOCKSPA_KEY, or the only *.key in ./keys)")
    .option('--spa-port <n>', "the server's SPA port (default: the profile's, or 62201)")
    .option(
      '--allow-ip <ip>',
      name === 'open'
        ? 'open for this address instead of the one the packet comes from'
        : 'close what was opened for this address (open --allow-ip)',
    )
    .option('--server-id <id>', "server identity to name in the packet (default: the key file's)")
    .option(
      '--ssh-key <file>',
      'knock with an SSH key instead: KEY.pub signs through ssh-agent, a private key file signs itself, "agent" takes the agent\'s first key',
    )
    .option('--server-key <key>', "with --ssh-key: the server's public key (what knockspa keygen --server printed there)")
    .addOption(new Option('--dump-packet <file>', 'also write the exact bytes sent to this file').hideHelp())
    .addHelpText(
      'after',
      `\nA first argument that is not a port (22, tcp/22, udp/53) names a profile; flags override the profile.\n\nExamples:\n  ${example}\n  knockspa ${name} myserver`,
    );
  if (name === 'open') {
    // Options a close knock cannot use are not offered on close (nor shown in its --help).
    cmd
      .option('--format <format>', 'packet format: knockspa (default), or fwknop to knock a fwknopd (a profile may set it)')
      .option('--fwknop-key-base64 <key>', 'with --format fwknop: KEY_BASE64 from fwknop --key-gen')
      .option('--fwknop-hmac-key-base64 <key>', 'with --format fwknop: HMAC_KEY_BASE64 from fwknop --key-gen')
      .option('--fwknop-user <name>', 'with --format fwknop: the user name field (default: your login name)')
      .option('--duration <s>', "seconds to keep it open (default: the server's default_duration)")
      .option('--wait', 'then probe the TCP port(s) until they connect')
      .addOption(new Option('--wait-timeout <s>', 'give up waiting after this many seconds').default('10', '10'));
  }
  return cmd.action(async (ports: string[], opts: KnockOptions) => {
    // The knock is out and every line written: end now rather than wait for Node to wind down.
    await exitAfterOutput(await runKnock(name, ports, opts, printLine));
  });
}
