/**
 * Where a knock goes and with which key: flags first, then the profile, then the environment
 * (KNOCKSPA_KEY, ./keys) and the defaults. Shared by open, close and connect.
 * @module
 */
import { canonicalIp } from '../protocol/address.js';
import { SERVER_ID } from '../protocol/keys.js';
import { UsageError } from '../shared/errors.js';
import { findKeyFile } from './key-file.js';
import { PORT_LIKE, profilesFile, type Profile } from './profiles.js';

export const DEFAULT_SPA_PORT = 62201;

/** The options open, close and connect share. */
export interface ServerFlags {
  readonly host?: string;
  readonly key?: string;
  readonly spaPort?: string;
  readonly allowIp?: string;
  readonly serverId?: string;
  /** An SSH key to sign with: "agent", a .pub (its key in ssh-agent) or a private key file. */
  readonly sshKey?: string;
  /** The server's public key for SSH-key knocks (what `keygen --server` printed). */
  readonly serverKey?: string;
}

export interface ServerTarget {
  readonly host: string;
  readonly spaPort: number;
  readonly keyFile: string;
  /** null: open for the address the knock comes from. */
  readonly allowIp: string | null;
  readonly serverId: string | undefined;
}

export function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max)
    throw new UsageError(`${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Splits `open`/`close` arguments: a first argument that does not look like a port names a profile. */
export function splitProfileArg(args: readonly string[]): { profile: string | undefined; ports: string[] } {
  const [first, ...rest] = args;
  if (first !== undefined && !PORT_LIKE.test(first)) return { profile: first, ports: rest };
  return { profile: undefined, ports: [...args] };
}

/** Where a knock goes, without the key (fwknop packets take their keys from other flags). */
export function resolveServer(
  flags: ServerFlags,
  profile: Profile | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Omit<ServerTarget, 'keyFile'> {
  const host = flags.host ?? profile?.host;
  if (host === undefined)
    throw new UsageError(
      `which server? pass --host HOST, or name a profile first (knockspa open myserver), defined in ${profilesFile(env)}`,
    );
  const spaPort = intOption(flags.spaPort, '--spa-port', 1, 65535) ?? profile?.spaPort ?? DEFAULT_SPA_PORT;
  let allowIp = profile?.allowIp ?? null;
  if (flags.allowIp !== undefined) {
    allowIp = canonicalIp(flags.allowIp);
    if (allowIp === null || allowIp === '0.0.0.0' || allowIp === '::')
      throw new UsageError(`--allow-ip: expected one IPv4 or IPv6 address, got ${JSON.stringify(flags.allowIp)}`);
  }
  if (flags.serverId !== undefined && !SERVER_ID.test(flags.serverId))
    throw new UsageError(`--server-id: expected a host-name-like identity, got ${JSON.stringify(flags.serverId)}`);
  return { host, spaPort, allowIp, serverId: flags.serverId };
}

export function resolveTarget(flags: ServerFlags, profile: Profile | undefined, env: NodeJS.ProcessEnv = process.env): ServerTarget {
  const server = resolveServer(flags, profile, env);
  return { ...server, keyFile: findKeyFile(flags.key ?? profile?.key, env) };
}
