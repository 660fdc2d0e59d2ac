/**
 * Client profiles: `$XDG_CONFIG_HOME/knockspa/config.toml` (default `~/.config/knockspa/config.toml`),
 * one `[servers.NAME]` table per server with host, spa_port, key, ports and allow_ip, or for an
 * fwknop server format = "fwknop" with fwknop_key_base64 / fwknop_hmac_key_base64 (then the file,
 * holding secrets, must be mode 0600). Validated
 * strictly: unknown keys are errors, and every error names the file, the key and what was expected.
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { canonicalIp } from '../protocol/address.js';
import { MAX_PORTS } from '../protocol/constants.js';
import { formatPortSpec, parsePortSpec, type PortSpec } from '../protocol/ports.js';
import { ConfigError, shown } from '../shared/errors.js';
import { tomlErrorText } from '../shared/toml-error.js';

export interface Profile {
  readonly name: string;
  /** The file it was read from, for messages. */
  readonly file: string;
  readonly host: string;
  readonly spaPort: number | undefined;
  /** Absolute path of the key file. */
  readonly key: string | undefined;
  /** Ports `knockspa open NAME` opens when none are given. */
  readonly ports: readonly PortSpec[] | undefined;
  /** An address to open for; null: the address the knock comes from ("source"); undefined: not set. */
  readonly allowIp: string | null | undefined;
  /** Packet format; undefined: knockspa unless --format says otherwise. */
  readonly format: 'knockspa' | 'fwknop' | undefined;
  /** fwknop keys (base64, as `fwknop --key-gen` prints them) and the username field. */
  readonly fwknopKeyBase64: string | undefined;
  readonly fwknopHmacKeyBase64: string | undefined;
  readonly fwknopUser: string | undefined;
  /** SSH-key knocks: "agent", or the absolute path of a .pub or private key file. */
  readonly sshKey: string | undefined;
  /** The server's public key (what `knockspa keygen --server` printed there). */
  readonly serverKey: string | undefined;
}

/**
 * What a port argument looks like: 22, tcp/22, udp/53 (valid or not). Anything else on the
 * command line is a profile name, and a profile may not be named like a port.
 */
export const PORT_LIKE = /^(?:(?:tcp|udp)\/)?[0-9]+$/i;
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PROFILE_KEYS = [
  'host',
  'spa_port',
  'key',
  'ports',
  'allow_ip',
  'format',
  'fwknop_key_base64',
  'fwknop_hmac_key_base64',
  'fwknop_user',
  'ssh_key',
  'server_key',
] as const;

type Table = Record<string, unknown>;

/** The profile file for this environment (XDG base directory rules: a relative XDG_CONFIG_HOME is ignored). */
export function profilesFile(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(env.HOME ?? homedir(), '.config');
  return join(base, 'knockspa', 'config.toml');
}

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function readProfile(file: string, name: string, table: Table, home: string): Profile {
  const at = (key: string): string => `servers.${name}.${key}`;
  const fail = (key: string, expected: string): never => {
    throw new ConfigError(file, at(key), `expected ${expected}, got ${shown(table[key])}`);
  };
  for (const key of Object.keys(table))
    if (!(PROFILE_KEYS as readonly string[]).includes(key))
      throw new ConfigError(file, at(key), `unknown key; expected one of ${PROFILE_KEYS.join(', ')}`);

  const { host, spa_port: spaPort, key, ports, allow_ip: allowIp } = table;
  if (typeof host !== 'string' || !/^[^\s/]+$/.test(host)) fail('host', 'the server\'s host name or address, e.g. "ssh.example.com"');
  if (spaPort !== undefined && (typeof spaPort !== 'number' || !Number.isInteger(spaPort) || spaPort < 1 || spaPort > 65535))
    fail('spa_port', 'an integer from 1 to 65535');
  if (key !== undefined && (typeof key !== 'string' || key === ''))
    fail('key', 'the path of a key file, e.g. "~/.config/knockspa/alice.key"');
  let specs: PortSpec[] | undefined;
  if (ports !== undefined) {
    if (!Array.isArray(ports) || ports.length === 0 || ports.length > MAX_PORTS)
      fail('ports', `an array of 1 to ${MAX_PORTS} ports like ["tcp/22", "udp/53"]`);
    specs = [];
    for (const item of ports as unknown[]) {
      const spec = typeof item === 'string' ? parsePortSpec(item) : null;
      if (spec === null)
        throw new ConfigError(file, at('ports'), `expected ports like "22", "tcp/22" or "udp/53" (1..65535), got ${shown(item)}`);
      if (specs.some((p) => formatPortSpec(p) === formatPortSpec(spec)))
        throw new ConfigError(file, at('ports'), `${formatPortSpec(spec)} listed twice`);
      specs.push(spec);
    }
  }
  let ip: string | null | undefined;
  if (allowIp === 'source') ip = null;
  else if (allowIp !== undefined) {
    ip = typeof allowIp === 'string' ? canonicalIp(allowIp) : null;
    if (ip === null || ip === '0.0.0.0' || ip === '::')
      fail('allow_ip', '"source" (the address the knock comes from) or one IPv4 or IPv6 address');
  }
  let keyPath: string | undefined;
  if (typeof key === 'string') keyPath = key === '~' || key.startsWith('~/') ? join(home, key.slice(1)) : resolve(dirname(file), key);
  const { format, fwknop_key_base64: fwKey, fwknop_hmac_key_base64: fwHmac, fwknop_user: fwUser } = table;
  if (format !== undefined && format !== 'knockspa' && format !== 'fwknop') fail('format', '"knockspa" or "fwknop"');
  // Key values are secrets: errors about them never echo what was given.
  const secretField = (name: string, v: unknown): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(v))
      throw new ConfigError(file, at(name), 'expected the base64 text fwknop --key-gen prints (value not shown)');
    return v;
  };
  const fwknopKeyBase64 = secretField('fwknop_key_base64', fwKey);
  const fwknopHmacKeyBase64 = secretField('fwknop_hmac_key_base64', fwHmac);
  if (fwUser !== undefined && (typeof fwUser !== 'string' || fwUser === '')) fail('fwknop_user', 'the user name to put in fwknop packets');
  const fwknopFields = fwknopKeyBase64 !== undefined || fwknopHmacKeyBase64 !== undefined || fwUser !== undefined;
  if (format === 'fwknop') {
    if (fwknopKeyBase64 === undefined || fwknopHmacKeyBase64 === undefined)
      throw new ConfigError(
        file,
        at('format'),
        'format = "fwknop" needs fwknop_key_base64 and fwknop_hmac_key_base64 (what fwknop --key-gen prints)',
      );
    if (key !== undefined)
      throw new ConfigError(
        file,
        at('key'),
        'a knockspa key file; an fwknop profile uses fwknop_key_base64 and fwknop_hmac_key_base64 instead',
      );
  } else if (fwknopFields) {
    throw new ConfigError(file, at('format'), 'format = "fwknop" when fwknop_key_base64, fwknop_hmac_key_base64 or fwknop_user is set');
  }
  const { ssh_key: sshKey, server_key: serverKey } = table;
  if (sshKey !== undefined && (typeof sshKey !== 'string' || sshKey === ''))
    fail('ssh_key', '"agent" or the path of an SSH key, e.g. "~/.ssh/id_ed25519.pub" (signs through ssh-agent)');
  if (serverKey !== undefined && (typeof serverKey !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(serverKey)))
    fail('server_key', "the server's public key, as knockspa keygen --server printed it (44 base64 characters)");
  if (sshKey !== undefined && key !== undefined)
    throw new ConfigError(file, at('ssh_key'), 'one of key (a knockspa key file) and ssh_key (an SSH key); both are set');
  if (sshKey !== undefined && format === 'fwknop') throw new ConfigError(file, at('ssh_key'), 'not with format = "fwknop"');
  if (sshKey !== undefined && serverKey === undefined)
    throw new ConfigError(file, at('server_key'), "expected the server's public key beside ssh_key (knockspa keygen --server printed it)");
  let sshKeyPath: string | undefined;
  if (typeof sshKey === 'string')
    sshKeyPath =
      sshKey === 'agent'
        ? sshKey
        : sshKey === '~' || sshKey.startsWith('~/')
          ? join(home, sshKey.slice(1))
          : resolve(dirname(file), sshKey);
  return {
    name,
    file,
    host: host as string,
    spaPort: spaPort as number | undefined,
    key: keyPath,
    ports: specs,
    allowIp: ip,
    format: format as Profile['format'],
    fwknopKeyBase64,
    fwknopHmacKeyBase64,
    fwknopUser: fwUser as string | undefined,
    sshKey: sshKeyPath,
    serverKey: serverKey as string | undefined,
  };
}

/** Parses and validates profile file text. */
export function parseProfiles(file: string, text: string, home: string = homedir()): Map<string, Profile> {
  let doc: Table;
  try {
    doc = parseToml(text);
  } catch (err) {
    throw new ConfigError(file, '', tomlErrorText(err));
  }
  for (const key of Object.keys(doc))
    if (key !== 'servers') throw new ConfigError(file, key, 'unknown key; expected [servers.NAME] tables only');
  const servers = doc.servers ?? {};
  if (!isTable(servers)) throw new ConfigError(file, 'servers', `expected [servers.NAME] tables, got ${shown(servers)}`);
  const profiles = new Map<string, Profile>();
  for (const [name, table] of Object.entries(servers)) {
    if (!PROFILE_NAME.test(name) || PORT_LIKE.test(name))
      throw new ConfigError(
        file,
        `servers.${name}`,
        'expected a profile name of letters, digits, . _ - that does not look like a port (22, tcp/22)',
      );
    if (!isTable(table)) throw new ConfigError(file, `servers.${name}`, `expected a table, got ${shown(table)}`);
    profiles.set(name, readProfile(file, name, table, home));
  }
  return profiles;
}

/** The profiles in `file` (default: {@link profilesFile}); none when the file does not exist. */
export function loadProfiles(file: string = profilesFile(), env: NodeJS.ProcessEnv = process.env): Map<string, Profile> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new ConfigError(file, '', `cannot read the profile file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const profiles = parseProfiles(file, text, env.HOME ?? homedir());
  const withSecrets = [...profiles.values()].find((p) => p.fwknopKeyBase64 !== undefined);
  const mode = withSecrets === undefined ? 0 : statSync(file).mode & 0o777;
  if (withSecrets !== undefined && (mode & 0o077) !== 0)
    throw new ConfigError(
      file,
      `servers.${withSecrets.name}`,
      `fwknop keys in a file with mode ${mode.toString(8)}, which others can read; run: chmod 600 ${file}`,
    );
  return profiles;
}

/** The profile called `name`, or a ConfigError listing the ones there are. */
export function getProfile(name: string, file: string = profilesFile(), env: NodeJS.ProcessEnv = process.env): Profile {
  const profiles = loadProfiles(file, env);
  const profile = profiles.get(name);
  if (profile !== undefined) return profile;
  const known = profiles.size === 0 ? 'it has none' : `it has ${[...profiles.keys()].join(', ')}`;
  throw new ConfigError(
    file,
    `servers.${name}`,
    `no such profile (${known}); add [servers.${name}] with host = "..." there, or give a port (22, tcp/22, udp/53)`,
  );
}
