/**
 * The daemon: wires config, keys, state, firewall, grants, pipeline and listener together,
 * and handles signals (TERM/INT: close every grant and exit 0; HUP: reload config and keys,
 * keeping the live grants the new config still allows and closing the others at once; a bad new
 * config is logged and the old one stays).
 * @module
 */
import type { Logger } from 'pino';
import { ReplayGuard } from '../protocol/replay.js';
import { AuthBudget } from './intake/auth-budget.js';
import { currentBootId } from './state/boot-id.js';
import { loadConfig, type ServerConfig } from './config/config.js';
import { ConfigError } from './config/config-error.js';
import { makeFirewall } from './firewall/make.js';
import { protectedPorts } from './firewall/settings.js';
import { fwknopTrials, packetFormats } from './intake/formats.js';
import { Grants } from './grants/grants.js';
import { loadKeys } from './config/keystore.js';
import type { Listener } from './listen/listener.js';
import { PcapListener } from './listen/pcap.js';
import { UdpListener } from './listen/udp.js';
import { Pipeline, type PipelinePolicy } from './intake/pipeline.js';
import { mayKeep } from './intake/policy.js';
import { RejectLog, SUMMARY_INTERVAL_MS } from './intake/reject-log.js';
import { StateStore, STATE_VERSION, type DaemonState } from './state/state.js';

/** What the firewall must drop unless granted (where the backend protects ports itself). */
function protectedBy(config: ServerConfig): ReturnType<typeof protectedPorts> {
  return protectedPorts(config.firewallSettings.protect, config.users.values());
}

export function makeListener(config: ServerConfig): Listener {
  if (config.listen === 'pcap') return new PcapListener({ interface: config.interface as string, port: config.port });
  return new UdpListener({ address: config.address, port: config.port });
}

/**
 * Keys and verifier for a loaded config, and the users who have a key file; throws ConfigError.
 * On reload a user without key files is revoked, not an error.
 */
function buildPolicy(
  config: ServerConfig, replay: ReplayGuard, trials: (n: number) => boolean, notBeforeMs: number, log: Logger, missingKeys: 'error' | 'revoke' = 'error',
): { policy: PipelinePolicy; keyUsers: ReadonlySet<string> } {
  const { keyring, warnings } = loadKeys(config, { missing: missingKeys });
  for (const warning of warnings) log.warn({ event: 'key-warning', message: warning }, warning);
  const verifier = packetFormats(config, keyring, replay, trials);
  const keyUsers = new Set([...keyring.entries()].map((entry) => entry.user));
  return { policy: { verifier, users: config.users, defaultDurationSec: config.defaultDurationSec, notBeforeMs }, keyUsers };
}

/** Checks config, keys and firewall access without starting or changing anything; throws on the first problem. */
export async function checkServer(path: string, log: Logger): Promise<{ config: ServerConfig; firewall: string }> {
  const config = loadConfig(path);
  buildPolicy(config, new ReplayGuard(config.replayCapacity), fwknopTrials(), 0, log);
  const firewall = await makeFirewall(config, log).check(protectedBy(config));
  return { config, firewall };
}

export interface RunningDaemon {
  /** Resolves with the exit code once the daemon has stopped. */
  readonly done: Promise<number>;
  stop(): Promise<void>;
  reload(): void;
}

export async function startDaemon(path: string, log: Logger, now: () => number = Date.now): Promise<RunningDaemon> {
  const config = loadConfig(path);

  // The command backend's rules may outlive a reboot and cannot be listed: only the state file
  // knows them, so it is fsync'd before any of them goes in. The others rebuild from the firewall.
  // Without a boot id a file from before a crash cannot be told apart: fsync'd too.
  const bootId = currentBootId();
  const store = new StateStore(config.stateDir, { durable: config.firewall === 'command' || bootId === undefined });
  try {
    store.prepare();
  } catch (err) {
    throw new ConfigError(config.file, 'state_dir', `a writable directory; cannot create ${config.stateDir}: ${(err as Error).message}`);
  }
  const loaded = store.load();
  let replay: ReplayGuard;
  let notBeforeMs = 0;
  if (loaded.kind === 'ok') {
    replay = ReplayGuard.fromState(loaded.state.replay, config.replayCapacity, now());
    // Written before a reboot: its last saves may never have reached the disk (no fsync).
    if (loaded.state.bootId !== bootId) notBeforeMs = now();
  } else {
    replay = new ReplayGuard(config.replayCapacity);
    // Without the cache a packet seen before could pass again: refuse anything made before now.
    notBeforeMs = now();
    if (loaded.kind === 'corrupt') log.error({ event: 'state-corrupt', error: loaded.error, movedTo: loaded.movedTo }, 'state file unreadable; starting without it');
  }
  // Budgets outlive reloads: a SIGHUP must not refill them.
  const trials = fwknopTrials(now);
  const { policy } = buildPolicy(config, replay, trials, notBeforeMs, log);

  const firewall = makeFirewall(config, log);
  let protect = protectedBy(config);
  await firewall.setup(protect);
  const snapshot = (): DaemonState => ({ version: STATE_VERSION, replay: replay.toState(), grants: grants.records(), ...(bootId === undefined ? {} : { bootId }) });
  const persist = (): Promise<void> =>
    store.save(snapshot).catch((err: unknown) => log.error({ event: 'state-error', error: String(err) }, 'cannot write state'));
  const grants = new Grants({ firewall, log, now, persist, protect, sweepEveryMs: config.firewallSettings.sweepIntervalSec * 1000 });
  await grants.restore(loaded.kind === 'ok' ? loaded.state.grants : []);

  const rejects = new RejectLog(log, now);
  const budget = new AuthBudget({ now });
  const pipeline = new Pipeline({ log, rejects, budget, grants, now }, policy);
  const listener = makeListener(config);
  await listener.start((datagram) => {
    try {
      pipeline.handle(datagram);
    } catch (err) {
      log.error({ event: 'internal-error', error: String(err), source: datagram.source }, 'packet handling failed');
    }
  });
  const flushTimer = setInterval(() => rejects.flush(), SUMMARY_INTERVAL_MS);
  log.info(
    { event: 'start', listener: listener.description, port: config.port, users: config.users.size, firewall: firewall.name, manages: firewall.description, serverId: config.serverId, grants: grants.size },
    config.users.size === 0 ? 'knockspa listening with no users: every knock is refused until a [users.NAME] table and its key are added and the daemon reloaded' : 'knockspa listening',
  );

  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      clearInterval(flushTimer);
      await listener.close().catch(() => undefined);
      // Fresh tools for the last batches: a spare may have had the same stop signal as the daemon.
      firewall.release();
      await grants.closeAll('shutdown');
      await firewall.detach().catch((err: unknown) => log.error({ event: 'firewall-error', op: 'detach', stderr: String(err) }, 'firewall command failed'));
      rejects.flush();
      await persist();
      store.close();
      log.info({ event: 'stop' }, 'knockspa stopped');
      resolveDone(0);
    })());

  const reload = (): void => {
    try {
      const next = loadConfig(path);
      const built = buildPolicy(next, replay, trials, pipeline.policy.notBeforeMs, log, 'revoke');
      pipeline.policy = built.policy;
      const nextProtect = protectedBy(next);
      if (JSON.stringify(nextProtect) !== JSON.stringify(protect)) void grants.setProtected((protect = nextProtect));
      const changed: string[] = (['listen', 'address', 'interface', 'port', 'firewall', 'stateDir', 'replayCapacity'] as const).filter((k) => next[k] !== config[k]);
      // protect is applied live (above); the other firewall settings need a restart.
      if (JSON.stringify({ ...next.firewallSettings, protect: [] }) !== JSON.stringify({ ...config.firewallSettings, protect: [] })) changed.push('firewall settings');
      log.info({ event: 'reload', users: next.users.size, needsRestart: changed }, changed.length > 0 ? `reloaded; restart to apply ${changed.join(', ')}` : 'reloaded');
      // What the new config no longer allows closes now, not at its deadline.
      void grants.revoke(mayKeep(next.users, built.keyUsers));
    } catch (err) {
      log.error({ event: 'config-error', message: (err as Error).message }, 'reload refused; keeping the running config');
    }
  };

  return { done, stop, reload };
}
