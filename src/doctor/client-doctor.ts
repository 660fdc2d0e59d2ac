/**
 * `knockspa doctor --client`: the profile file is valid, each key file is readable, private (0600)
 * and well-formed (an SSH key: the agent holds it, or the file signs), each server name resolves,
 * and the clock is kept. Client code only.
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ConfigError, UsageError } from '../shared/errors.js';
import { tomlKey } from '../shared/toml-key.js';
import { findKeyFile } from '../client/key-file.js';
import { loadProfiles, profilesFile, type Profile } from '../client/profiles.js';
import { KeyFileError, parseKeyFile } from '../protocol/keyfile.js';
import { openSshSigner } from '../client/ssh-knock.js';
import { clockFindings } from './clock.js';
import { fail, ok, warn, type Finding } from './finding.js';

export interface ClientDoctorOptions {
  /** A profile to check (default: all of them). */
  readonly profile?: string;
  readonly key?: string;
  readonly host?: string;
}

function keyFileFindings(file: string, via: string): Finding[] {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    return [
      fail(
        `key file ${file} (${via}) cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        'fix the path: --key FILE, KNOCKSPA_KEY, or key = "FILE" in the profile',
      ),
    ];
  }
  if ((mode & 0o077) !== 0)
    return [
      fail(
        `key file ${file} has mode ${(mode & 0o777).toString(8)}: others can read the secret`,
        `chmod 600 ${file}; knockspa refuses to use it until then`,
      ),
    ];
  try {
    const key = parseKeyFile(readFileSync(file, 'utf8'));
    key.secret.fill(0);
    return [ok(`key file ${file} (${via}): user ${key.user}, server id "${key.serverId}", key id ${bytesToHex(key.keyId)}, mode 600`)];
  } catch (err) {
    const what = err instanceof KeyFileError ? err.message : (err as Error).message;
    return [fail(`key file ${file}: ${what}`, "ask the server's admin for a new key file (knockspa keygen --rotate)")];
  }
}

async function hostFindings(host: string, via: string): Promise<Finding[]> {
  if (isIP(host) !== 0) return [ok(`host ${host} (${via}) is an address`)];
  try {
    const addresses = (await lookup(host, { all: true })).map((a) => a.address);
    return [ok(`host ${host} (${via}) resolves to ${addresses.join(', ')}`)];
  } catch (err) {
    return [
      fail(
        `host ${host} (${via}) does not resolve (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        'check the name (profile host / --host), or use an address',
      ),
    ];
  }
}

/** An SSH-key profile: the key can sign (in the agent, or a readable unencrypted file). */
async function sshKeyFindings(profile: Profile, spec: string, env: NodeJS.ProcessEnv): Promise<Finding[]> {
  const via = `profile ${profile.name}`;
  try {
    const signer = await openSshSigner(spec, env);
    signer.close();
    return [
      ok(
        `${via} knocks with SSH key ${signer.key.fingerprint} (${signer.key.type}), signed via ${signer.via}; server key ${profile.serverKey ?? '?'}`,
      ),
    ];
  } catch (err) {
    if (!(err instanceof Error) || (err.name !== 'UsageError' && err.name !== 'AgentError')) throw err;
    return [fail(`${via}: ${err.message}`, `fix ssh_key in [servers.${tomlKey(profile.name)}] or the agent (ssh-add -l lists its keys)`)];
  }
}

async function profileFindings(profile: Profile, env: NodeJS.ProcessEnv): Promise<Finding[]> {
  const via = `profile ${profile.name}`;
  if (profile.sshKey !== undefined)
    return [...(await sshKeyFindings(profile, profile.sshKey, env)), ...(await hostFindings(profile.host, via))];
  let keyFile: string;
  try {
    keyFile = findKeyFile(profile.key, env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return [
      fail(`${via} has no key: ${err.message}`, `set key = "FILE" in [servers.${tomlKey(profile.name)}]`),
      ...(await hostFindings(profile.host, via)),
    ];
  }
  return [
    ...keyFileFindings(keyFile, profile.key === undefined ? `${via}, from the environment` : via),
    ...(await hostFindings(profile.host, via)),
  ];
}

export async function clientDoctor(opts: ClientDoctorOptions, env: NodeJS.ProcessEnv = process.env): Promise<Finding[]> {
  const findings: Finding[] = [];
  const file = profilesFile(env);
  let profiles = new Map<string, Profile>();
  try {
    profiles = loadProfiles(file, env);
    findings.push(
      profiles.size === 0
        ? ok(`no profiles in ${file} (optional)`)
        : ok(`profile file ${file} is valid: ${[...profiles.keys()].join(', ')}`),
    );
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    findings.push(fail(`profile file ${err.message}`, 'fix the key it names; open, close and connect refuse the file until then'));
  }

  if (opts.profile !== undefined) {
    const profile = profiles.get(opts.profile);
    if (profile === undefined)
      findings.push(
        fail(`no profile ${opts.profile} in ${file}`, `add [servers.${tomlKey(opts.profile)}] with host = "..." and key = "..."`),
      );
    else findings.push(...(await profileFindings(profile, env)));
  } else if (opts.key !== undefined || profiles.size === 0) {
    try {
      findings.push(...keyFileFindings(findKeyFile(opts.key, env), opts.key !== undefined ? '--key' : 'default'));
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      findings.push(warn(err.message, 'make one profile per server, or keep the key where knockspa looks'));
    }
  } else for (const profile of profiles.values()) findings.push(...(await profileFindings(profile, env)));

  if (opts.host !== undefined) findings.push(...(await hostFindings(opts.host, '--host')));
  findings.push(...clockFindings(undefined));
  return findings;
}
