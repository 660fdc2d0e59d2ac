/**
 * Real OpenSSH for the end-to-end tests: an sshd with its own config, host key and authorized key
 * in a temp directory, run in the server namespace, and the argv of an `ssh` client for it
 * (no user config, no agent, no known_hosts, batch mode). Debian packages openssh-server and
 * openssh-client: a test declares {@link OPENSSH_NEEDS}.
 * @module
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestNet } from './netns.js';
import { run, runOk, type NsProcess } from './process.js';
import type { Need } from './requirements.js';

export const SSHD = '/usr/sbin/sshd';
export const SSH = '/usr/bin/ssh';

/** What a test that runs sshd and ssh declares (requirements.ts). */
export const OPENSSH_NEEDS: readonly Need[] = ['sshd', 'ssh', 'ssh-keygen'];

export interface Sshd {
  readonly proc: NsProcess;
  readonly port: number;
  /** The client's private key (its public half is the only authorized key). */
  readonly clientKey: string;
  /** The address sshd logged for each accepted login, in order ("Accepted publickey for root from ADDR"). */
  acceptedFrom(): string[];
}

/** Starts sshd on `port` (all addresses, both families) in the server namespace; resolves once it listens. */
export async function startSshd(net: TestNet, port: number): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), `knockspa-sshd-${net.id}-`));
  net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const hostKey = join(dir, 'host_key');
  const clientKey = join(dir, 'client_key');
  await runOk(null, ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'knockspa-test-host', '-f', hostKey]);
  await runOk(null, ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'knockspa-test-client', '-f', clientKey]);
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, (await run(null, ['ssh-keygen', '-y', '-f', clientKey])).stdout, { mode: 0o600 });
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 0.0.0.0',
      'ListenAddress ::',
      `HostKey ${hostKey}`,
      'PidFile none',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AuthorizedKeysFile ${authorized}`,
      'PrintMotd no',
      'PrintLastLog no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  // sshd's privilege-separation directory (the Debian service unit creates it; nothing else does here).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  await runOk(null, [SSHD, '-t', '-f', config]);
  const proc = net.spawnIn(net.srv, [SSHD, '-D', '-e', '-f', config]);
  await proc.waitUntil(() => (/Server listening on :: port/.test(proc.stderr) ? true : undefined), 10_000, 'sshd listening');
  return {
    proc,
    port,
    clientKey,
    acceptedFrom: () => [...proc.stderr.matchAll(/Accepted publickey for root from (\S+) port/g)].map((m) => m[1] as string),
  };
}

/** argv of `ssh` to root@host on the sshd's port, with extra -o options, running `command`. */
export function sshArgv(sshd: Sshd, host: string, options: Record<string, string>, command: string[]): string[] {
  const argv = [SSH, '-F', '/dev/null', '-i', sshd.clientKey, '-p', String(sshd.port), '-T'];
  const all: Record<string, string> = {
    IdentitiesOnly: 'yes',
    StrictHostKeyChecking: 'no',
    UserKnownHostsFile: '/dev/null',
    BatchMode: 'yes',
    LogLevel: 'ERROR',
    ConnectTimeout: '3',
    ...options,
  };
  for (const [k, v] of Object.entries(all)) argv.push('-o', `${k}=${v}`);
  return [...argv, `root@${host}`, ...command];
}

/** The environment for ssh: no agent (only -i's key is offered). */
export function sshEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.SSH_AUTH_SOCK;
  return env;
}
