/**
 * `knockspa connect HOST PORT`, made for ssh's `ProxyCommand knockspa connect %h %p`: knock for
 * tcp/PORT, connect (knocking again with a fresh packet if the port stays shut), then relay
 * stdin/stdout to the connection until it closes. stdout carries the connection's bytes only;
 * every diagnostic goes to stderr.
 *
 * Dual stack: the host is resolved first and the knock goes to the SPA port of the very address the
 * connection will use, so the server opens the port for the source address of that family.
 * @module
 */
import { isIP, type Socket } from 'node:net';
import { Command, Option } from 'commander';
import { MAX_DURATION_SEC } from '../protocol/body.js';
import { UsageError } from '../shared/errors.js';
import { counted } from '../shared/plural.js';
import { openKnocker } from '../client/knocker.js';
import { KnockWatch } from '../client/knock-watch.js';
import { resolveFailure } from '../client/net-words.js';
import { probePort, type ProbeResult } from '../client/probe.js';
import { explainProbe } from '../client/probe-report.js';
import { getProfile, loadProfiles, type Profile } from '../client/profiles.js';
import { intOption, resolveServer, type ServerFlags } from '../client/target.js';

export interface ConnectOptions extends Omit<ServerFlags, 'host'> {
  readonly profile?: string;
  readonly duration?: string;
  readonly attempts?: string;
  readonly timeout?: string;
  readonly verbose?: boolean;
}

export interface ConnectIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  readonly log: (line: string) => void;
}

const defaultIo = (): ConnectIo => ({
  stdin: process.stdin,
  stdout: process.stdout,
  log: (line) => process.stderr.write(`knockspa: ${line}\n`),
});

/** --profile, else the profile named HOST, else the one profile whose host is HOST. */
function findProfile(host: string, explicit: string | undefined): Profile | undefined {
  if (explicit !== undefined) return getProfile(explicit);
  const profiles = loadProfiles();
  const named = profiles.get(host);
  if (named !== undefined) return named;
  const byHost = [...profiles.values()].filter((p) => p.host === host);
  if (byHost.length > 1)
    throw new UsageError(`profiles ${byHost.map((p) => p.name).join(', ')} all have host ${host}; pick one with --profile NAME`);
  return byHost[0];
}

interface Candidate {
  readonly address: string;
  readonly family: 4 | 6;
}

/**
 * The addresses to try, in the resolver's order (which follows the system's address selection
 * policy): the first of each family. An allow-ip limits them to its family, since a grant for an
 * IPv4 address does nothing for a connection over IPv6.
 */
async function candidates(host: string, allowIp: string | null): Promise<Candidate[]> {
  let found: Candidate[];
  const literal = isIP(host);
  if (literal !== 0) found = [{ address: host, family: literal as 4 | 6 }];
  else {
    try {
      // Loaded only for a host name: an address needs no resolver.
      const { lookup } = await import('node:dns/promises');
      found = (await lookup(host, { all: true })).map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
    } catch (err) {
      throw new UsageError(resolveFailure(host, err));
    }
  }
  const firstOfEach = [4, 6]
    .map((family) => found.find((c) => c.family === family))
    .filter((c): c is Candidate => c !== undefined)
    .sort((a, b) => found.indexOf(a) - found.indexOf(b));
  if (allowIp === null) return firstOfEach;
  const family = isIP(allowIp) as 4 | 6;
  const usable = firstOfEach.filter((c) => c.family === family);
  if (usable.length === 0)
    throw new UsageError(
      `${host} has no IPv${family} address, but the knock opens for ${allowIp} (IPv${family}); drop --allow-ip / allow_ip or connect to an IPv${family} address`,
    );
  return usable;
}

/** Copies stdin to the socket and the socket to stdout; resolves with the exit code when the connection is over. */
function relay(socket: Socket, io: ConnectIo): Promise<number> {
  return new Promise((resolvePromise) => {
    socket.setNoDelay(true);
    // stdin's end becomes our FIN (half-close); the server may still send, and we keep reading.
    io.stdin.pipe(socket);
    socket.pipe(io.stdout, { end: false });
    let code = 0;
    socket.once('error', (err) => {
      io.log(`connection failed: ${err.message}`);
      code = 1;
    });
    // The server closed (or the connection broke): the session is over, whatever stdin still holds.
    socket.once('close', () => {
      io.stdin.unpipe(socket);
      io.stdout.write('', () => resolvePromise(code));
    });
  });
}

export async function runConnect(host: string, portArg: string, opts: ConnectOptions, io: ConnectIo = defaultIo()): Promise<number> {
  const port = intOption(portArg, 'PORT', 1, 65535) as number;
  const duration = intOption(opts.duration, '--duration', 1, MAX_DURATION_SEC) ?? 0;
  const attempts = intOption(opts.attempts, '--attempts', 1, 20) ?? 3;
  const timeoutSec = intOption(opts.timeout, '--timeout', 1, 600) ?? 3;
  const profile = findProfile(host, opts.profile);
  const connectHost = profile !== undefined && profile.name === host ? profile.host : host;
  const target = resolveServer({ ...opts, host: connectHost }, profile);
  const key = await openKnocker(opts, profile);
  let last: { result: Exclude<ProbeResult, { kind: 'open' }>; address: string } | undefined;
  try {
    for (const { address, family } of await candidates(target.host, target.allowIp)) {
      // One socket per address for the knocks: an ICMP port-unreachable on it means no daemon listens.
      const watch = new KnockWatch();
      try {
        for (let attempt = 1; attempt <= attempts; attempt++) {
          await key.knock(
            { action: 'open', ports: [{ proto: 'tcp', port }], allowIp: target.allowIp, durationSec: duration },
            { host: address, spaPort: target.spaPort, family },
            watch.send,
          );
          if (opts.verbose === true)
            io.log(`knocked udp/${target.spaPort} at ${address} as ${key.who} (attempt ${attempt}); connecting to tcp/${port}`);
          const result = await probePort(address, port, timeoutSec * 1000, watch.refused);
          if (result.kind === 'open') {
            key.close();
            watch.close();
            if (opts.verbose === true) io.log(`connected to ${address} port ${port} after ${result.ms} ms`);
            return await relay(result.socket, io);
          }
          last = { result, address };
          // A reset, an unreachable or a refused knock is an answer: knocking again changes nothing.
          if (result.kind !== 'timeout') break;
          if (attempt < attempts)
            io.log(`${address} port ${port} still shut after ${timeoutSec} s; knocking again (${attempt + 1}/${attempts})`);
          else io.log(`${address} port ${port} did not open after ${counted(attempts, 'knock')}`);
        }
      } finally {
        watch.close();
      }
      if (last !== undefined && last.result.kind !== 'timeout')
        for (const line of explainProbe(last.result, { address, spaPort: target.spaPort, port, waitedSec: timeoutSec })) io.log(line);
    }
  } finally {
    key.close();
  }
  if (last === undefined || last.result.kind !== 'timeout') return 1;
  io.log('gave up.');
  for (const line of explainProbe(last.result, { address: last.address, spaPort: target.spaPort, port, waitedSec: timeoutSec }))
    io.log(line);
  io.log('  `knockspa doctor --client` checks this side.');
  return 1;
}

export function command(): Command {
  return new Command('connect')
    .summary("knock, then relay stdin/stdout to HOST:PORT (for ssh's ProxyCommand)")
    .description(
      'Knocks for tcp/PORT, connects (knocking again with a fresh packet while the port stays shut), then relays stdin/stdout to the connection until it closes. Diagnostics go to stderr only. HOST may be a profile name; otherwise a profile whose host is HOST is used, if there is one.',
    )
    .argument('<host>', 'the server (name, address or profile name; ssh passes %h)')
    .argument('<port>', 'the TCP port (ssh passes %p)')
    .option('--profile <name>', 'use this profile (default: the one named HOST, or the one whose host is HOST)')
    .option('--key <file>', "key file (default: the profile's, $KNOCKSPA_KEY, or the only *.key in ./keys)")
    .option('--spa-port <n>', "the server's SPA port (default: the profile's, or 62201)")
    .option('--allow-ip <ip>', 'open for this address instead of the one the packet comes from (connects over its address family)')
    .option('--server-id <id>', "server identity to name in the packet (default: the key file's)")
    .option(
      '--ssh-key <file>',
      'knock with an SSH key: KEY.pub signs through ssh-agent, a private key file itself, "agent" the agent\'s first key',
    )
    .option('--server-key <key>', "with --ssh-key: the server's public key (what knockspa keygen --server printed there)")
    .option('--duration <s>', "seconds the port stays open for new connections (default: the server's); the session outlives it")
    .addOption(new Option('--attempts <n>', 'knocks to send per address before giving up').default('3', '3'))
    .addOption(new Option('--timeout <s>', 'seconds to wait for the port after each knock').default('3', '3'))
    .option('--verbose', 'say on stderr what was sent and when it connected')
    .addHelpText(
      'after',
      '\nIn ~/.ssh/config:\n  Host myserver\n    HostName ssh.example.com\n    ProxyCommand knockspa connect %h %p\n\nExample:\n  ssh -o ProxyCommand="knockspa connect %h %p --key ~/.config/knockspa/alice.key" alice@ssh.example.com',
    )
    .action(async (host: string, port: string, opts: ConnectOptions) => {
      // Exit at once when the connection is over: stdin may still be open.
      process.exit(await runConnect(host, port, opts));
    });
}
