/**
 * The server side of an SSH-key knock test (ssh-keys, ssh-sk-keys): the base ruleset dropping ssh,
 * a real sshd, a site whose server.key knockspa made, one daemon; plus the client's knock through
 * an agent and a wait until every short grant has lapsed.
 */
import { strict as assert } from 'node:assert';
import type { TestContext } from 'node:test';
import type { TestNet } from '../lab/netns.js';
import { canConnect } from '../lab/probes.js';
import { NODE, run, runOk, type RunResult } from '../lab/process.js';
import { baseRuleset } from '../lab/ruleset.js';
import { startSshd, type Sshd } from '../lab/sshd.js';
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
  /** Waits until the ssh port is shut again (every 5 s grant lapsed). */
  closeAll(): Promise<void>;
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
  return {
    site,
    sshd,
    daemon,
    s: { daemons: [daemon] },
    host,
    serverPub,
    open: (sshKey, extra = [], env = agentEnv) =>
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
      ),
    closeAll: async () => {
      const shut = await eventually(
        async () => !(await canConnect(net, net.cli, host, sshPort, { timeoutMs: DROP_TIMEOUT_MS })),
        4 * GRANT_SECONDS * 1000,
        500,
      );
      assert.ok(shut, 'the ssh port shut again');
    },
  };
}
