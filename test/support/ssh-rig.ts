/**
 * The server side of an SSH-key knock test (ssh-keys, ssh-sk-keys): the base ruleset dropping ssh,
 * a real sshd, a site whose server.key knockspa made, one daemon; plus the client's knock through
 * an agent, a real ssh in through ProxyCommand, and a wait until every short grant has lapsed.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { TestNet } from '../lab/netns.js';
import { canConnect } from '../lab/probes.js';
import { NODE, run, runOk, type LogLine, type RunResult } from '../lab/process.js';
import { baseRuleset } from '../lab/ruleset.js';
import { sshArgv, sshEnv, startSshd, type Sshd } from '../lab/sshd.js';
import { DROP_TIMEOUT_MS } from './e2e.js';
import { CLI, Daemon, eventually, makeSite, Site, SPA_PORT, startDaemon, type UserConfig } from './knockspa.js';

/** How long each knock asks for: short, so a test can wait its grants out. */
const GRANT_SECONDS = 5;

export interface SshRig {
  readonly site: Site;
  readonly sshd: Sshd;
  readonly daemon: Daemon;
  /** For withLog. */
  readonly s: { daemons: Daemon[] };
  readonly host: string;
  /** server.key's public half, as `keygen --server` printed it. */
  readonly serverPub: string;
  /** `knockspa open SSH_PORT --ssh-key KEY` from the client, 5 s, with the agent in `env`. */
  open(sshKey: string, extra?: readonly string[], env?: NodeJS.ProcessEnv): Promise<RunResult>;
  /**
   * `open KEY.pub --wait` after every earlier grant lapsed: asserts the port opened for the client
   * and the daemon logged an ssh knock with the key's fingerprint; returns that log line.
   */
  openWait(sshKey: string, extra?: readonly string[]): Promise<LogLine>;
  /**
   * A real ssh in, through ProxyCommand `knockspa connect` signing with sshKey (the .pub of a key in
   * the agent): asserts it ran `echo word`, that the daemon logged the key's fingerprint and sshd
   * let the client in.
   */
  login(sshKey: string, word: string): Promise<void>;
  /** Waits until the ssh port is shut again (every 5 s grant lapsed). */
  closeAll(): Promise<void>;
}

/** ssh-agent in the client's namespace, its socket in dir (`extra`: more options, as -P); the socket's path. */
export async function startAgent(net: TestNet, dir: string, extra: readonly string[] = []): Promise<string> {
  const sock = join(dir, 'agent.sock');
  const agent = net.spawnIn(net.cli, ['ssh-agent', '-D', '-a', sock, ...extra]);
  net.onCleanup(() => void agent.stop());
  assert.ok(await eventually(() => Promise.resolve(existsSync(sock)), 10_000), `ssh-agent socket\n${agent.describe()}`);
  return sock;
}

/** A public key's fingerprint, as `ssh-keygen -l` prints it and the daemon logs it. */
export async function sshFingerprint(pub: string): Promise<string> {
  return (await runOk(null, ['ssh-keygen', '-l', '-E', 'sha256', '-f', pub])).stdout.split(' ')[1] as string;
}

/** `users(siteDir)` gives the users' config once the site exists (a keys file may go in siteDir). */
export async function sshRig(
  t: TestContext,
  net: TestNet,
  sshPort: number,
  agentEnv: NodeJS.ProcessEnv,
  users: (siteDir: string) => Record<string, UserConfig>,
): Promise<SshRig> {
  await baseRuleset(net, sshPort, { spaPort: SPA_PORT, udpMode: true });
  const sshd = await startSshd(net, sshPort);
  const site = await makeSite(net, { users: {}, keyUsers: [] });
  const serverPub = (await runOk(null, [NODE, CLI, 'keygen', '--server', '--out', site.dir])).stdout.trim();
  site.writeConfig({ server_key: 'server.key', users: users(site.dir) });
  const daemon = await startDaemon(net, site.configPath);
  t.after(() => daemon.stop());
  const host = net.serverV4;
  const open = (sshKey: string, extra: readonly string[] = [], env: NodeJS.ProcessEnv = agentEnv): Promise<RunResult> =>
    run(
      net.cli,
      [
        NODE,
        CLI,
        'open',
        String(sshPort),
        '--host',
        host,
        '--ssh-key',
        sshKey,
        '--server-key',
        serverPub,
        '--duration',
        String(GRANT_SECONDS),
        ...extra,
      ],
      { env, timeoutMs: 30_000 },
    );
  const closeAll = async (): Promise<void> => {
    const shut = await eventually(
      async () => !(await canConnect(net, net.cli, host, sshPort, { timeoutMs: DROP_TIMEOUT_MS })),
      4 * GRANT_SECONDS * 1000,
      500,
    );
    assert.ok(shut, 'the ssh port shut again');
  };
  /** The daemon's ssh knock since mark, from the client, signed by sshKey. */
  const knockLogged = async (since: number, sshKey: string): Promise<LogLine> => {
    const knock = await daemon.waitEvent('knock', { action: 'open', format: 'ssh' }, { since });
    assert.equal(knock.sshKey, await sshFingerprint(sshKey), 'the fingerprint as ssh-keygen -l prints it');
    assert.equal(knock.ip, net.clientV4);
    return knock;
  };
  return {
    site,
    sshd,
    daemon,
    s: { daemons: [daemon] },
    host,
    serverPub,
    open,
    closeAll,
    openWait: async (sshKey, extra = []) => {
      await closeAll();
      const m = daemon.mark();
      const r = await open(sshKey, ['--wait', ...extra]);
      assert.equal(r.code, 0, `${sshKey}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`tcp/${sshPort} open after`));
      return knockLogged(m, sshKey);
    },
    login: async (sshKey, word) => {
      const m = daemon.mark();
      const proxy = `env SSH_AUTH_SOCK=${agentEnv.SSH_AUTH_SOCK ?? ''} ${NODE} ${CLI} connect %h %p --duration ${GRANT_SECONDS} --ssh-key ${sshKey} --server-key ${serverPub}`;
      const r = await net.run(net.cli, sshArgv(sshd, host, { ProxyCommand: proxy }, ['echo', word]), { env: sshEnv(), timeoutMs: 60_000 });
      assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}\nsshd: ${sshd.proc.stderr}`);
      assert.equal(r.stdout, `${word}\n`);
      await knockLogged(m, sshKey);
      assert.equal(sshd.acceptedFrom().at(-1), net.clientV4);
    },
  };
}
