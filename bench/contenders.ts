/**
 * The four daemons `npm run bench` compares, each set up in the server namespace to open TCP 22
 * for the knocking address with the same rule, `-s IP -p tcp --dport 22 -j ACCEPT`: knockspa
 * (udp and pcap listeners, firewall = "iptables": the rule in its chain KNOCKSPA), fwknopd (Debian
 * fwknop-server, CMD_CYCLE_OPEN `iptables -I INPUT ...`) and knockd (a three-port UDP sequence, the
 * same command). For each: its base ruleset, how to start it, its client command, a
 * pre-built valid knock, junk of the three kinds, and how to take a grant away between rounds.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKET_SIZE } from '../src/protocol/constants.js';
import { CHAIN } from '../src/server/firewall/iptables.js';
import type { TestNet } from '../test/lab/netns.js';
import { sendUdp } from '../test/lab/probes.js';
import { NODE, run, runOk, sleep } from '../test/lab/process.js';
import { baseRuleset } from '../test/lab/ruleset.js';
import { junkPayloads, type JunkKind as AnyJunk } from '../test/support/junk.js';
import { CLI, craftPacket, makeSite, SPA_PORT, type ServerConfigInput, type UserConfig } from '../test/support/knockspa.js';
import type { Datagram } from './agent.js';
import { SSH_USER, type SshUser } from './ssh-user.js';

export const PORT = 22;
/** What each contender is asked to do: the rule every one of them inserts. */
export const RULE = (ip: string): string[] => ['-s', ip, '-p', 'tcp', '--dport', String(PORT), '-j', 'ACCEPT'];
/** The three kinds of invalid packet the issue measures. */
export type JunkKind = Extract<AnyJunk, 'random' | 'unknown-key' | 'bad-tag'>;
export const JUNK_KINDS: readonly JunkKind[] = ['random', 'unknown-key', 'bad-tag'];

const KNOCKD_SEQUENCE = [7000, 8000, 9000];

export interface Junk {
  readonly port: number;
  readonly payloads: Uint8Array[];
}

export interface Contender {
  readonly name: string;
  /** Its client command's name, for the start-up table. */
  readonly client: string;
  /** What "unknown key id" and "bad tag" mean for it, when they differ from knockspa's. */
  readonly junkNote: string;
  /** Its junk comes from the fast C sender (bench/fast-sender.ts) at --fast-rate, not the paced Node one. */
  readonly fastJunk?: boolean;
  /** Installs its base ruleset and starts the daemon in the server namespace. */
  start(): Promise<void>;
  /** The daemon's pid (in /proc of this host). */
  readonly pid: number;
  stop(): Promise<void>;
  /** The client command that opens port 22 for `ip` (the address it runs from). */
  clientArgv(ip: string): string[];
  /** A fresh valid knock for `ip`, as datagrams to send (built now, sent later). */
  knock(ip: string): Promise<Datagram[]>;
  /** Takes the grant for `ip` away; resolves once the ACCEPT rule is gone. */
  close(ip: string): Promise<void>;
  junk(kind: JunkKind, count: number): Junk;
  /** knockspa with an SSH-key user configured (bench/ssh-user.ts): that user's knocks and closes. */
  readonly ssh?: {
    readonly user: SshUser;
    knock(ip: string): Promise<Datagram[]>;
    close(ip: string): Promise<void>;
  };
  /**
   * A running count of packets that reached the daemon, where there is a way to know: for knockspa
   * udp the datagrams the kernel delivered to sockets, for fwknopd the packets it logs as examined
   * (those that look like SPA data). What a pcap daemon's capture ring drops is not known.
   */
  readonly reached?: { readonly what: string; count(): Promise<number> };
}

/** A daemon whose output goes to a file (a flood must not fill the bench's memory with its log lines). */
class LoggedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;

  constructor(
    net: TestNet,
    ns: string,
    argv: readonly string[],
    readonly logFile: string,
  ) {
    const fd = openSync(logFile, 'a');
    // `ip netns exec` execs the command in place: the pid is the daemon's.
    this.child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.exited = new Promise((r) => this.child.once('exit', () => r()));
    net.onCleanup(() => this.stop());
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`could not start: see ${this.logFile}`);
    return this.child.pid;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = sleep(5_000).then(() => 'timeout' as const);
    if ((await Promise.race([this.exited, timer])) === 'timeout') this.child.kill('SIGKILL');
    await this.exited;
  }

  log(): string {
    return readFileSync(this.logFile, 'utf8');
  }
}

/** Deletes every copy of the grant rule for `ip` (fwknopd and knockd insert one per knock). */
async function deleteRules(net: TestNet, ip: string): Promise<void> {
  while ((await run(net.srv, ['iptables', '-w', '-D', 'INPUT', ...RULE(ip)])).code === 0);
}

/** knockspa's grant for `ip`: the same rule, in its own chain KNOCKSPA (which INPUT jumps to), with a comment. */
async function hasKnockspaGrant(net: TestNet, ip: string): Promise<boolean> {
  const listing = await run(net.srv, ['iptables', '-w', '-S', CHAIN]);
  return listing.stdout
    .split('\n')
    .some((l) => l.startsWith(`-A ${CHAIN} -s ${ip}/32 -p tcp -m tcp --dport ${PORT} `) && l.endsWith('-j ACCEPT'));
}

/** Datagrams the server namespace's kernel delivered to UDP sockets so far (/proc/net/snmp Udp InDatagrams). */
async function udpDelivered(net: TestNet): Promise<number> {
  const lines = (await runOk(net.srv, ['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = (lines[0] ?? '').split(/\s+/);
  const values = (lines[1] ?? '').split(/\s+/);
  return Number(values[names.indexOf('InDatagrams')]);
}

/** Drops the extra UDP ports a contender listens on by capture (so the kernel answers nothing there). */
async function dropUdp(net: TestNet, ports: readonly number[]): Promise<void> {
  for (const port of ports) await runOk(net.srv, ['iptables', '-w', '-A', 'INPUT', '-p', 'udp', '--dport', String(port), '-j', 'DROP']);
}

/** The users of a knockspa site: alice (key file), and bob with his SSH key when the bench has one. */
function siteUsers(ssh: SshUser | undefined): { users: Record<string, UserConfig>; keyUsers: string[]; extra: ServerConfigInput } {
  const user: UserConfig = { ports: [`tcp/${PORT}`], max_duration: 300, require_ip: false };
  if (ssh === undefined) return { users: { alice: user }, keyUsers: ['alice'], extra: {} };
  return {
    users: { alice: user, [SSH_USER]: { ...user, ssh_keys: [ssh.publicLine] } },
    keyUsers: ['alice'],
    extra: { server_key: ssh.serverKeyFile },
  };
}

/**
 * Closes the daemon's grant for `ip` with close knocks (`packet` makes one): the daemon owns its
 * grant, so not a rule deletion, or its next open would only extend. Under a flood a knock can be
 * lost like any datagram: try again.
 */
async function closeByKnock(
  net: TestNet,
  ip: string,
  hasGrant: (ip: string) => Promise<boolean>,
  packet: () => Promise<Uint8Array>,
  log: () => string,
): Promise<void> {
  for (let attempt = 0; attempt < 5 && (await hasGrant(ip)); attempt++) {
    await sendUdp(net, net.cli, net.serverV4, SPA_PORT, await packet(), { localAddress: ip });
    for (let i = 0; i < 50 && (await hasGrant(ip)); i++) await sleep(20);
  }
  if (await hasGrant(ip)) throw new Error(`knockspa did not close the grant for ${ip}:\n${log().slice(-2_000)}`);
}

/** The SSH-key user's side of a knockspa contender. */
function sshSide(
  net: TestNet,
  user: SshUser | undefined,
  hasGrant: (ip: string) => Promise<boolean>,
  log: () => string,
): Pick<Contender, 'ssh'> {
  if (user === undefined) return {};
  const datagram = async (action: 'open' | 'close'): Promise<Datagram[]> => [
    { host: net.serverV4, port: SPA_PORT, hex: Buffer.from(await user.knock(action, PORT)).toString('hex') },
  ];
  return {
    ssh: {
      user,
      knock: () => datagram('open'),
      close: (ip) => closeByKnock(net, ip, hasGrant, () => user.knock('close', PORT), log),
    },
  };
}

export function knockspa(net: TestNet, listen: 'udp' | 'pcap', dir: string, sshUser?: SshUser): Contender {
  let daemon: LoggedProcess | undefined;
  let keyFile = '';
  const hasGrant = (ip: string): Promise<boolean> => hasKnockspaGrant(net, ip);
  const log = (): string => daemon?.log() ?? '';
  return {
    name: `knockspa ${listen}`,
    client: 'knockspa open',
    // firewall = "iptables" with kernel_screen on (the defaults): its -m u32 rules drop random bytes before the socket.
    junkNote: listen === 'udp' ? 'iptables kernel screen on (the default): random bytes are dropped by -m u32 before the socket' : '',
    async start() {
      await baseRuleset(net, PORT, { spaPort: SPA_PORT, udpMode: listen === 'udp' });
      const { users, keyUsers, extra } = siteUsers(sshUser);
      const site = await makeSite(net, { listen, users, keyUsers, extra });
      keyFile = site.keyPath('alice');
      daemon = new LoggedProcess(net, net.srv, [NODE, CLI, 'server', '--config', site.configPath], join(dir, `knockspa-${listen}.log`));
    },
    get pid() {
      return (daemon as LoggedProcess).pid;
    },
    stop: async () => daemon?.stop(),
    clientArgv: () => [NODE, CLI, 'open', String(PORT), '--host', net.serverV4, '--key', keyFile],
    knock: async () => [{ host: net.serverV4, port: SPA_PORT, hex: Buffer.from(craftPacket({ keyFile })).toString('hex') }],
    close: (ip) => closeByKnock(net, ip, hasGrant, () => Promise.resolve(craftPacket({ keyFile, action: 'close' })), log),
    junk: (kind, count) => ({ port: SPA_PORT, payloads: junkPayloads(kind, count, keyFile) }),
    ...(listen === 'udp' ? { reached: { what: 'delivered to its socket', count: () => udpDelivered(net) } } : {}),
    ...sshSide(net, sshUser, hasGrant, log),
  };
}

async function hasNftGrant(net: TestNet, ip: string): Promise<boolean> {
  const listing = await run(net.srv, ['nft', 'list', 'set', 'inet', 'knockspa', 'allow4']);
  return listing.stdout.includes(`${ip} . tcp . ${PORT}`);
}

/**
 * knockspa udp with firewall = "nftables" (its own table protects port 22; no iptables rules), with
 * or without the kernel screen of the SPA port: what the screen spares the daemon.
 */
export function knockspaNft(net: TestNet, screen: boolean, dir: string, sshUser?: SshUser): Contender {
  let daemon: LoggedProcess | undefined;
  let keyFile = '';
  const hasGrant = (ip: string): Promise<boolean> => hasNftGrant(net, ip);
  const log = (): string => daemon?.log() ?? '';
  const name = `knockspa udp nft${screen ? '+screen' : ''}`;
  return {
    name,
    client: 'knockspa open',
    junkNote: `${screen ? 'junk without a known key id is dropped by nftables before the socket; ' : ''}junk from the fast sender (sendmmsg)`,
    fastJunk: true,
    async start() {
      for (const argv of [['-F'], ['-X'], ['-P', 'INPUT', 'ACCEPT']]) await runOk(net.srv, ['iptables', '-w', ...argv]);
      await run(net.srv, ['nft', 'delete', 'table', 'inet', 'knockspa']);
      const { users, keyUsers, extra } = siteUsers(sshUser);
      const site = await makeSite(net, {
        listen: 'udp',
        users,
        keyUsers,
        extra: { ...extra, firewall: 'nftables', kernel_screen: screen },
      });
      keyFile = site.keyPath('alice');
      const log = join(dir, `${name.replace(/\W+/g, '-')}.log`);
      daemon = new LoggedProcess(net, net.srv, [NODE, CLI, 'server', '--config', site.configPath], log);
    },
    get pid() {
      return (daemon as LoggedProcess).pid;
    },
    async stop() {
      await daemon?.stop();
      // Its table protects port 22 after the stop: the next contender starts without it.
      await run(net.srv, ['nft', 'delete', 'table', 'inet', 'knockspa']);
    },
    clientArgv: () => [NODE, CLI, 'open', String(PORT), '--host', net.serverV4, '--key', keyFile],
    knock: async () => [{ host: net.serverV4, port: SPA_PORT, hex: Buffer.from(craftPacket({ keyFile })).toString('hex') }],
    close: (ip) => closeByKnock(net, ip, hasGrant, () => Promise.resolve(craftPacket({ keyFile, action: 'close' })), log),
    junk: (kind, count) => ({ port: SPA_PORT, payloads: junkPayloads(kind, count, keyFile) }),
    reached: { what: 'delivered to its socket', count: () => udpDelivered(net) },
    ...sshSide(net, sshUser, hasGrant, log),
  };
}

export function fwknopd(net: TestNet, dir: string): Contender {
  let daemon: LoggedProcess | undefined;
  const key = randomBytes(32).toString('base64');
  const hmacKey = randomBytes(64).toString('base64');
  const auth = ['--key-base64-rijndael', key, '--key-base64-hmac', hmacKey, '--use-hmac', '--no-rc-file', '--no-save-args'];
  const home = join(dir, 'fwknop');
  const argv = (ip: string): string[] => ['fwknop', '-A', `tcp/${PORT}`, '-a', ip, '-D', net.serverV4, ...auth];
  let n = 0;
  /** A real packet, built by the fwknop client without sending it. */
  const build = async (ip: string): Promise<string> => {
    const file = join(home, `packet-${n++}`);
    await runOk(null, [...argv(ip), '--test', '--save-packet', file], { env: { ...process.env, HOME: home } });
    return readFileSync(file, 'utf8').trim();
  };
  let sample = '';
  return {
    name: 'fwknopd',
    client: 'fwknop',
    junkNote:
      'fwknop packets carry no key id: "unknown key id" is random base64 as long as a real packet, "bad tag" a real packet with its HMAC changed',
    async start() {
      await baseRuleset(net, PORT, { spaPort: SPA_PORT, udpMode: false });
      mkdirSync(home, { recursive: true, mode: 0o700 });
      const conf = join(home, 'fwknopd.conf');
      const access = join(home, 'access.conf');
      writeFileSync(
        conf,
        `PCAP_INTF ${net.srvIf};\nPCAP_FILTER udp dst port ${SPA_PORT};\nFWKNOP_RUN_DIR ${home};\nENABLE_PCAP_PROMISC N;\n`,
        { mode: 0o600 },
      );
      const rule = (op: string): string => `/usr/sbin/iptables -w ${op} INPUT ${RULE('$SRC').join(' ')}`;
      writeFileSync(
        access,
        `SOURCE ANY\nKEY_BASE64 ${key}\nHMAC_KEY_BASE64 ${hmacKey}\nOPEN_PORTS tcp/${PORT}\nCMD_CYCLE_OPEN ${rule('-I')}\nCMD_CYCLE_CLOSE NONE\nCMD_CYCLE_TIMER 30\n`,
        { mode: 0o600 },
      );
      daemon = new LoggedProcess(net, net.srv, ['fwknopd', '-f', '-c', conf, '-a', access], join(dir, 'fwknopd.log'));
      sample = await build(net.clientV4);
    },
    get pid() {
      return (daemon as LoggedProcess).pid;
    },
    stop: async () => daemon?.stop(),
    clientArgv: argv,
    knock: async (ip) => [{ host: net.serverV4, port: SPA_PORT, hex: Buffer.from(await build(ip)).toString('hex') }],
    close: (ip) => deleteRules(net, ip),
    reached: {
      what: 'logged as examined (base64 only: it discards binary unlogged)',
      count: async () => (daemon?.log().match(/SPA Packet from IP/g) ?? []).length,
    },
    junk(kind, count) {
      const base64 = (): Uint8Array => new Uint8Array(Buffer.from(randomBytes(sample.length).toString('base64').slice(0, sample.length)));
      const badTag = (): Uint8Array => {
        const p = Buffer.from(sample);
        p[p.length - 1] = p[p.length - 1] === 0x41 ? 0x42 : 0x41; // last HMAC character, still base64
        return new Uint8Array(p);
      };
      const make = kind === 'random' ? () => new Uint8Array(randomBytes(PACKET_SIZE)) : kind === 'unknown-key' ? base64 : badTag;
      return { port: SPA_PORT, payloads: Array.from({ length: count }, make) };
    },
  };
}

export function knockd(net: TestNet, dir: string): Contender {
  let daemon: LoggedProcess | undefined;
  return {
    name: 'knockd',
    client: 'knock',
    junkNote: 'knockd reads no payload: every kind is a UDP packet to the first port of its sequence',
    async start() {
      await baseRuleset(net, PORT, { spaPort: SPA_PORT, udpMode: false });
      await dropUdp(net, KNOCKD_SEQUENCE);
      const conf = join(dir, 'knockd.conf');
      const sequence = KNOCKD_SEQUENCE.map((p) => `${p}:udp`).join(',');
      writeFileSync(
        conf,
        `[options]\n  LogFile = ${join(dir, 'knockd-events.log')}\n  PidFile = ${join(dir, 'knockd.pid')}\n` +
          `[open]\n  sequence = ${sequence}\n  seq_timeout = 5\n  command = /usr/sbin/iptables -w -I INPUT ${RULE('%IP%').join(' ')}\n`,
      );
      daemon = new LoggedProcess(net, net.srv, ['knockd', '-c', conf, '-i', net.srvIf], join(dir, 'knockd.log'));
    },
    get pid() {
      return (daemon as LoggedProcess).pid;
    },
    stop: async () => daemon?.stop(),
    clientArgv: () => ['knock', '-u', net.serverV4, ...KNOCKD_SEQUENCE.map(String)],
    knock: async () => KNOCKD_SEQUENCE.map((port) => ({ host: net.serverV4, port, hex: Buffer.from('knock').toString('hex') })),
    close: (ip) => deleteRules(net, ip),
    junk: (kind, count) => ({
      port: KNOCKD_SEQUENCE[0] as number,
      payloads: junkPayloads(kind === 'bad-tag' ? 'random' : kind, count, ''),
    }),
  };
}
