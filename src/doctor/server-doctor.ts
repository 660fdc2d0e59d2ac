/**
 * `knockspa doctor` on a server: what is wrong before a user finds out. Privileges, config,
 * firewall tool, the SPA port (free, or held by knockspa) or the capture, key files, state
 * directory, clock, and whether the base ruleset really drops the protected ports.
 * @module
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { DEFAULT_CONFIG_PATH, loadConfig, type ServerConfig } from '../server/config/config.js';
import { ConfigError } from '../shared/errors.js';
import { makeListener } from '../server/daemon.js';
import { DEFAULT_BACKEND, makeFirewall } from '../server/firewall/registry.js';
import { protectedPorts } from '../server/firewall/settings.js';
import { runTool } from '../server/firewall/exec.js';
import { PCAP_MISSING } from '../server/listen/pcap.js';
import { clockFindings } from './clock.js';
import { daemonFindings } from './daemon-findings.js';
import { clusterFindings } from './cluster-findings.js';
import { fail, ok, warn, type Finding } from './finding.js';
import { fwknopFindings } from './fwknop-findings.js';
import { keyFindings, stateFindings } from './key-findings.js';
import { sshFindings } from './ssh-findings.js';
import { oneLine } from './read-ruleset.js';
import { rulesetFindings } from './ruleset-findings.js';
import { screenFindings } from './screen-findings.js';

const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;

/** The effective capability bits of this process (from /proc/self/status). */
function effectiveCaps(): bigint {
  const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return line === null ? 0n : BigInt(`0x${line[1]}`);
}

function privilegeFindings(listen: ServerConfig['listen'] | undefined): Finding[] {
  const uid = process.getuid?.() ?? -1;
  if (uid === 0) return [ok('running as root')];
  const caps = effectiveCaps();
  const has = (bit: number): boolean => (caps & (1n << BigInt(bit))) !== 0n;
  const missing = [
    ...(has(CAP_NET_ADMIN) ? [] : ['CAP_NET_ADMIN (firewall)']),
    ...(listen === 'pcap' && !has(CAP_NET_RAW) ? ['CAP_NET_RAW (pcap)'] : []),
  ];
  if (missing.length === 0) return [ok(`running as uid ${uid} with the capabilities the daemon needs`)];
  return [
    fail(
      `running as uid ${uid} without ${missing.join(' and ')}`,
      'run the daemon (and this check) as root, as packaging/knockspa.service does: sudo knockspa doctor',
    ),
  ];
}

/** pid and command line of the process bound to udp/`port`, from `ss`. */
async function udpPortHolder(port: number): Promise<{ pid: number; command: string } | undefined> {
  try {
    const { stdout } = await runTool(['ss', '-H', '-u', '-l', '-n', '-p', 'sport', '=', `:${port}`]);
    const pid = Number(/pid=(\d+)/.exec(stdout)?.[1]);
    if (!Number.isInteger(pid)) return undefined;
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .replace(/[\0\s]+/g, ' ')
      .trim();
    return { pid, command };
  } catch {
    return undefined;
  }
}

async function listenerFindings(config: ServerConfig): Promise<Finding[]> {
  const listener = makeListener(config);
  try {
    await listener.start(() => undefined);
    await listener.close();
    return [
      ok(
        config.listen === 'udp'
          ? `the SPA port udp/${config.port} on ${config.address} is free for the daemon`
          : `pcap can capture knocks on ${config.interface ?? '?'}`,
      ),
    ];
  } catch (err) {
    const message = oneLine((err as Error).message);
    if (config.listen === 'pcap') {
      const fix = message.startsWith(PCAP_MISSING)
        ? 'install it as said, or use listen = "udp"'
        : `check interface = "${config.interface ?? ''}" (ip link) and run as root`;
      return [fail(message, fix)];
    }
    if (!/EADDRINUSE/.test(message)) return [fail(message, 'fix address/port in the config')];
    const holder = await udpPortHolder(config.port);
    if (holder !== undefined && /knockspa|cli\.js/.test(holder.command) && / server\b/.test(holder.command))
      return [ok(`the SPA port udp/${config.port} is held by the running knockspa daemon (pid ${holder.pid})`)];
    // Short: arguments may hold whole scripts (node -e ...).
    const who = holder === undefined ? 'another process' : `pid ${holder.pid} (${holder.command.slice(0, 80)})`;
    return [
      fail(
        `the SPA port udp/${config.port} is taken by ${who}`,
        'stop it, or set port = a free port in the config and spa_port / --spa-port on the clients',
      ),
    ];
  }
}

async function firewallFindings(config: ServerConfig): Promise<Finding[]> {
  const firewall = makeFirewall(config, pino({ enabled: false }));
  if (!config.firewallSettings.backend.capabilities.opensPorts)
    return [
      warn(
        `firewall = "${config.firewall}" manages ${firewall.description}: a knock opens nothing`,
        `set firewall = "${DEFAULT_BACKEND}" for real use`,
      ),
    ];
  try {
    await firewall.check(protectedPorts(config.firewallSettings.protect, config.users.values()));
    return [ok(`firewall ${firewall.name} is present and usable`)];
  } catch (err) {
    return [
      fail(`firewall ${firewall.name} unusable: ${oneLine((err as Error).message)}`, accessFix(err, firewall.model?.package ?? 'iptables')),
    ];
  }
}

/** Advice by cause: no permission (not root) is not a missing tool. */
function accessFix(err: unknown, pkg: string): string {
  const text = `${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`;
  if ((process.getuid?.() ?? 0) !== 0 || /EACCES|EPERM|permission denied|not permitted/i.test(text))
    return 'run it as root, as the daemon runs: sudo knockspa doctor';
  if (/ENOENT|not found/i.test(text)) return `install it (apt-get install ${pkg})`;
  return 'fix what it names; the daemon fails the same way';
}

/** One check that throws still gives one finding line, and the others still run. */
async function guard(what: string, check: () => Finding[] | Promise<Finding[]>): Promise<Finding[]> {
  try {
    return await check();
  } catch (err) {
    return [fail(`${what}: ${oneLine((err as Error).message)}`, accessFix(err, 'iptables nftables'))];
  }
}

export async function serverDoctor(configPath: string = DEFAULT_CONFIG_PATH): Promise<Finding[]> {
  let config: ServerConfig;
  try {
    config = loadConfig(configPath);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [
      ...privilegeFindings(undefined),
      fail(`config ${err.message}`, 'fix what it names; the daemon refuses to start (and a reload keeps the old config) until then'),
      ...clockFindings(undefined),
    ];
  }
  return [
    ...privilegeFindings(config.listen),
    ok(
      `config ${config.file} is valid (${config.users.size} user${config.users.size === 1 ? '' : 's'}, server_id "${config.serverId}", listen ${config.listen}, firewall ${config.firewall})`,
    ),
    ...(await guard('firewall check', () => firewallFindings(config))),
    ...(await guard('listener check', () => listenerFindings(config))),
    ...(await guard('daemon check', () => daemonFindings(config))),
    ...(await guard('key check', () => keyFindings(config))),
    ...(await guard('SSH key check', () => sshFindings(config))),
    ...(await guard('fwknop check', () => fwknopFindings(config))),
    ...(await guard('state_dir check', () => stateFindings(config))),
    ...clockFindings(config.maxSkewSec),
    ...(await guard('ruleset check', () => rulesetFindings(config))),
    ...(await guard('kernel screen check', () => screenFindings(config))),
    ...(await guard('cluster check', () => clusterFindings(config))),
  ];
}
