/**
 * The daemon: wires config, keys, state, firewall, applier, pipeline and listener together
 * (listener -> pipeline -> applier -> firewall; nothing calls back up), and handles signals (TERM/INT: close every grant and exit 0; HUP: reload config and keys,
 * keeping the live grants the new config still allows and closing the others at once; a bad new
 * config is logged and the old one stays; what only a restart applies, [cluster] among it, is
 * named in the reload line: config/restart-needed.ts).
 * @module
 */
import type { Logger } from 'pino';
import { ReplayGuard } from '../protocol/replay.js';
import { classifyAddress } from '../protocol/address-class.js';
import { AddressPolicy } from './intake/address-policy.js';
import { AuthBudget, TrialBudget } from './intake/auth-budget.js';
import { currentBootId } from './state/boot-id.js';
import { loadConfig, type ServerConfig } from './config/config.js';
import { restartNeeded } from './config/restart-needed.js';
import { ConfigError } from '../shared/errors.js';
import { stateMustBeDurable } from './firewall/backend.js';
import { makeFirewall } from './firewall/registry.js';
import { resolveTools } from './firewall/tool-path.js';
import { asConfigError, protectedPorts } from './firewall/settings.js';
import { kernelScreen, type KernelScreen } from './firewall/screen.js';
import { packetFormats } from './intake/formats.js';
import { Applier, type Grant } from './grants/applier.js';
import { loadKeys } from './config/keystore.js';
import { loadSshKeys } from './config/ssh-users.js';
import type { Listener } from './listen/listener.js';
import { PcapListener } from './listen/pcap.js';
import { checkListener } from './listen/check-listener.js';
import { UdpListener } from './listen/udp.js';
import { Pipeline, type PipelinePolicy } from './intake/pipeline.js';
import { mayKeep } from './intake/policy.js';
import { RejectLog, SUMMARY_INTERVAL_MS } from './intake/reject-log.js';
import { ReplayWindow } from './state/replay-window.js';
import { StateStore, STATE_VERSION, type LoadResult } from './state/state.js';
import { PidLock } from './state/pid-lock.js';
import type { Firewall } from './firewall/firewall.js';
import { Observers } from './observers.js';
import { ConflictWatch } from './firewall/conflict-watch.js';
import { readScreenCounters } from './firewall/screen-counters.js';
import { screenReading } from './metrics/screen-reading.js';

/** What the firewall must drop unless granted (where the backend protects ports itself). */
function protectedBy(config: ServerConfig): ReturnType<typeof protectedPorts> {
  return protectedPorts(config.firewallSettings.protect, config.users.values());
}

/**
 * Which saved grants (state file, firewall entries) may be taken on at start: those a knock could
 * have made under this config (user, key, port, at most max_duration from now, and a little for
 * whole-second deadlines).
 */
function restorable(config: ServerConfig, keyUsers: ReadonlySet<string>, now: () => number): (grant: Grant) => boolean {
  const keep = mayKeep(config.users, keyUsers);
  return (grant) => keep(grant) && grant.deadlineMs <= now() + ((config.users.get(grant.user)?.maxDurationSec ?? 0) + 2) * 1000;
}

/** The replay cache at start, and the window that keeps it sound (replay-window.ts). */
function replayAtStart(
  loaded: LoadResult,
  config: ServerConfig,
  bootId: string | undefined,
  nowMs: number,
  log: Logger,
): { replay: ReplayGuard; window: ReplayWindow } {
  const skewMs = config.maxSkewSec * 1000;
  if (loaded.kind === 'corrupt')
    log.error({ event: 'state-corrupt', error: loaded.error, movedTo: loaded.movedTo }, 'state file unreadable; starting without it');
  // Written before a reboot: its last saves may never have reached the disk (no fsync).
  if (loaded.kind !== 'ok' || loaded.state.bootId !== bootId) {
    const replay = new ReplayGuard(config.replayCapacity);
    const window = new ReplayWindow(replay, skewMs);
    window.lost(nowMs);
    return { replay, window };
  }
  const { state } = loaded;
  const replay = ReplayGuard.fromState(state.replay, config.replayCapacity, nowMs);
  const window = new ReplayWindow(replay, state.maxSkewMs, state.notBeforeMs);
  window.widenTo(skewMs, nowMs);
  return { replay, window };
}

/** Loopback clients only when the SPA port is on loopback itself. */
function addressPolicy(config: ServerConfig): AddressPolicy {
  const loopback = config.listen === 'pcap' ? config.interface === 'lo' : classifyAddress(config.address) === 'loopback';
  return new AddressPolicy({ loopback, linkLocal: config.allowLinkLocal });
}

/** The kernel screen a config asks for, with these key ids (and SSH packet sizes); null where it is off. */
function screenOf(config: ServerConfig, keyIds: Iterable<string>, sshSizes: readonly number[] | 'any'): KernelScreen | null {
  if (!config.kernelScreen) return null;
  return kernelScreen(config.port, keyIds, config.fwknopKeys.size > 0, config.sshUsers.size > 0 ? sshSizes : null);
}

/** pcap's capture filter is set at start: SSH keys added on reload may be of any type. */
function captureScreen(config: ServerConfig): KernelScreen | null {
  return screenOf(config, [], 'any');
}

export function makeListener(config: ServerConfig, log?: Logger, onFatal?: (err: Error) => void): Listener {
  if (config.listen === 'pcap')
    return new PcapListener({ interface: config.interface as string, port: config.port, screen: captureScreen(config), log, onFatal });
  return new UdpListener({ address: config.address, port: config.port });
}

/**
 * Keys and verifier for a loaded config, and the users who have a key file; throws ConfigError.
 * On reload a user without key files is revoked, not an error.
 */
function buildPolicy(
  config: ServerConfig,
  replay: ReplayGuard,
  notBeforeMs: number,
  log: Logger,
  missingKeys: 'error' | 'revoke' = 'error',
): { policy: PipelinePolicy; keyUsers: ReadonlySet<string>; keyIds: readonly string[]; sshSizes: readonly number[] } {
  const { keyring, warnings } = loadKeys(config, { missing: missingKeys });
  const ssh = loadSshKeys(config, { missing: missingKeys });
  for (const warning of [...warnings, ...(ssh?.warnings ?? [])]) log.warn({ event: 'key-warning', message: warning }, warning);
  const formats = packetFormats(config, keyring, replay, ssh);
  const sshEntries = ssh === null ? [] : [...ssh.keyring.entries()];
  const keyUsers = new Set([...[...keyring.entries()].map((entry) => entry.user), ...sshEntries.map((entry) => entry.user)]);
  // SSH candidate ids sit where v1 key ids do: one set serves both in the kernel screen.
  const keyIds = [...[...keyring.entries()].map((entry) => entry.keyIdHex), ...sshEntries.map((entry) => entry.candidateHex)];
  const sshSizes = [...new Set(sshEntries.map((entry) => entry.packetSize))].sort((a, b) => a - b);
  return {
    policy: { formats, users: config.users, defaultDurationSec: config.defaultDurationSec, notBeforeMs },
    keyUsers,
    keyIds,
    sshSizes,
  };
}

/** Checks config, keys, listener and firewall access without starting or changing anything; throws on the first problem. */
export async function checkServer(path: string, log: Logger): Promise<{ config: ServerConfig; firewall: string }> {
  const config = loadConfig(path);
  loadKeys(config, { wrongServer: 'error' });
  buildPolicy(config, new ReplayGuard(config.replayCapacity), 0, log);
  await checkListener(config);
  const firewall = await makeFirewall(config, log).check(protectedBy(config)).catch(asConfigError(config.file));
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

  // Entries that may outlive a reboot and cannot be listed are known only to the state file: it is
  // fsync'd before any of them goes in. Other backends rebuild from the firewall.
  // Without a boot id a file from before a crash cannot be told apart: fsync'd too.
  const bootId = currentBootId();
  const store = new StateStore(config.stateDir, {
    durable: stateMustBeDurable(config.firewallSettings.backend.capabilities) || bootId === undefined,
  });
  let loaded: LoadResult;
  try {
    store.prepare();
  } catch (err) {
    throw new ConfigError(config.file, 'state_dir', `a directory of the daemon's own for its state; ${(err as Error).message}`);
  }
  // Before the state is read or the firewall touched: a second daemon on this state_dir changes nothing.
  const lock = PidLock.acquire(config.stateDir);
  let setUp: Firewall | undefined;
  let observers: Observers | undefined;
  try {
    // A metrics address that cannot be bound is a config error, before the firewall is touched.
    const live = { grants: (): number => 0 };
    observers = await Observers.start(config, log, () => live.grants());
    try {
      loaded = store.load();
    } catch (err) {
      throw new ConfigError(config.file, 'state_dir', `a directory of the daemon's own for its state; ${(err as Error).message}`);
    }
    return await startLocked(path, config, log, now, store, bootId, loaded, lock, observers, live, (f) => (setUp = f));
  } catch (err) {
    // A start that fails leaves the firewall as it found it (setup made nothing that stays) and the lock free.
    if (setUp !== undefined) {
      setUp.release();
      await setUp
        .undoSetup?.()
        .catch((undoErr: unknown) =>
          log.error({ event: 'firewall-error', op: 'undo-setup', stderr: String(undoErr) }, 'firewall command failed'),
        );
    }
    await observers?.stop().catch(() => undefined);
    store.close();
    lock.release();
    throw err;
  }
}

async function startLocked(
  path: string,
  config: ServerConfig,
  log: Logger,
  now: () => number,
  store: StateStore,
  bootId: string | undefined,
  loaded: LoadResult,
  lock: PidLock,
  observers: Observers,
  live: { grants: () => number },
  onSetup: (firewall: Firewall) => void,
): Promise<RunningDaemon> {
  const { replay, window } = replayAtStart(loaded, config, bootId, now(), log);
  const { policy, keyUsers, keyIds, sshSizes } = buildPolicy(config, replay, window.notBeforeMs, log);

  // Before the firewall runs anything: the tools come from the system directories, and the log says which.
  const tools = resolveTools();
  const firewall = makeFirewall(config, log);
  let protect = protectedBy(config);
  onSetup(firewall);
  await firewall.setup(protect).catch(asConfigError(config.file));
  // The kernel screen, where the backend has one; off in the config takes a leftover out.
  const screensSpaPort = config.firewallSettings.backend.capabilities.screensSpaPort === true;
  let screen = screensSpaPort ? screenOf(config, keyIds, sshSizes) : null;
  if (screensSpaPort) {
    await firewall.screen?.(screen);
    // Read at scrape time: a reload may turn the screen on or off, the reading follows the kernel.
    observers.onScrape(screenReading(() => readScreenCounters(firewall), log));
  }
  // Loaded only with [cluster] (below): a lone gateway never loads the Redis client.
  let cluster: import('./cluster/cluster.js').RunningCluster | undefined;
  const applier = new Applier({
    firewall,
    log,
    now,
    protect,
    share: (events, taking) => cluster?.step.share(events, taking),
    sweepEveryMs: config.firewallSettings.sweepIntervalSec * 1000,
    save: (grants) => {
      try {
        store.save({
          version: STATE_VERSION,
          replay: replay.toState(),
          grants,
          maxSkewMs: window.savedSkewMs,
          notBeforeMs: window.notBeforeMs,
          ...(bootId === undefined ? {} : { bootId }),
        });
      } catch (err) {
        store.invalidate(); // the file on disk no longer vouches for the cache
        throw err;
      }
    },
  });
  await applier.restore(loaded.kind === 'ok' ? loaded.state.grants : [], restorable(config, keyUsers, now));
  live.grants = () => applier.size;

  let onReload: (next: ServerConfig, keyUsers: ReadonlySet<string>) => void = () => {};
  if (config.cluster !== undefined) {
    const { startCluster } = await import('./cluster/cluster.js');
    let current = { config, keyUsers };
    cluster = await startCluster(config, config.cluster, {
      log,
      now,
      submit: (events) => applier.submit(events),
      allowed: (grant, deadlineMs) =>
        mayKeep(current.config.users, current.keyUsers)(grant) &&
        deadlineMs <= now() + ((current.config.users.get(grant.user)?.maxDurationSec ?? 0) + current.config.maxSkewSec + 2) * 1000,
      windowMs: () => current.config.maxSkewSec * 1000,
    }).catch(async (err: unknown) => {
      await applier.closeAll('shutdown');
      await firewall.detach().catch(() => undefined);
      throw err;
    });
    onReload = (next, nextKeyUsers) => (current = { config: next, keyUsers: nextKeyUsers });
  }
  // A port dropped by a rule of another table never opens, whatever knockspa grants: say so now and at every sweep.
  const conflicts = new ConflictWatch(config.firewallSettings, firewall, log);
  await conflicts.check(protect);

  const rejects = new RejectLog(log, now);
  // Budgets outlive reloads: a SIGHUP must not refill them.
  const pipeline = new Pipeline(
    {
      log,
      rejects,
      budget: new AuthBudget({ now }),
      trials: new TrialBudget(now),
      applier: observers.timed(applier),
      now,
      addresses: addressPolicy(config),
      cluster: cluster?.step,
    },
    policy,
  );
  // A capture that is lost and cannot be reopened: exit non-zero, so a supervisor restarts us.
  let exitCode = 0;
  const listener = makeListener(config, log, () => {
    exitCode = 1;
    void stop();
  });
  await listener.start((datagram) => {
    observers.packet();
    try {
      pipeline.handle(datagram);
    } catch (err) {
      log.error({ event: 'internal-error', error: String(err), source: datagram.source }, 'packet handling failed');
    }
  });
  const flushTimer = setInterval(() => rejects.flush(), SUMMARY_INTERVAL_MS);
  // An admin's close (control socket) is shared with the group like a close knock: once this firewall answered.
  const adminClose = async (keep: (grant: Grant) => boolean): Promise<Grant[]> => {
    const closed = await applier.revoke(keep, 'admin');
    cluster?.step.share(
      closed.map((grant) => ({ kind: 'close', grant, why: 'admin' })),
      closed.map(() => true),
    );
    return closed;
  };
  await observers.serve(config, applier, listener.description, adminClose);
  const conflictTimer = setInterval(() => void conflicts.check(protect), config.firewallSettings.sweepIntervalSec * 1000);
  log.info(
    {
      event: 'start',
      listener: listener.description,
      port: config.port,
      users: config.users.size,
      firewall: firewall.name,
      manages: firewall.description,
      serverId: config.serverId,
      grants: applier.size,
      tools,
    },
    config.users.size === 0
      ? 'knockspa listening with no users: every knock is refused until a [users.NAME] table and its key are added and the daemon reloaded'
      : 'knockspa listening',
  );

  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      clearInterval(flushTimer);
      await observers.closeControl();
      clearInterval(conflictTimer);
      await listener.close().catch(() => undefined);
      await cluster?.stop().catch(() => undefined);
      // Fresh tools for the last batches: a spare may have had the same stop signal as the daemon.
      firewall.release();
      await applier.closeAll('shutdown');
      await applier.saveState(); // the cache as it is now, also entries of knocks that changed nothing
      await firewall
        .detach()
        .catch((err: unknown) => log.error({ event: 'firewall-error', op: 'detach', stderr: String(err) }, 'firewall command failed'));
      rejects.flush();
      await observers.stop();
      store.close();
      lock.release();
      log.info({ event: 'stop' }, 'knockspa stopped');
      resolveDone(exitCode);
    })());

  const reload = (): void => {
    try {
      const next = loadConfig(path);
      const built = buildPolicy(next, replay, window.notBeforeMs, log, 'revoke');
      // After the new config is known good: a wider window refuses what the cache cannot vouch for.
      window.widenTo(next.maxSkewSec * 1000, now());
      built.policy = { ...built.policy, notBeforeMs: window.notBeforeMs };
      pipeline.policy = built.policy;
      onReload(next, built.keyUsers);
      const nextProtect = protectedBy(next);
      if (JSON.stringify(nextProtect) !== JSON.stringify(protect)) void applier.setProtected((protect = nextProtect));
      // The running port: a new one needs a restart (below).
      const nextScreen = screensSpaPort ? screenOf({ ...next, port: config.port }, built.keyIds, built.sshSizes) : null;
      if (screensSpaPort && JSON.stringify(nextScreen) !== JSON.stringify(screen))
        void firewall
          .screen?.((screen = nextScreen))
          .then(() => log.info({ event: 'screen-updated', keyIds: nextScreen?.keyIds.length ?? null }, 'kernel screen updated'))
          .catch((err: unknown) => log.error({ event: 'firewall-error', op: 'screen', stderr: String(err) }, 'firewall command failed'));
      const changed = restartNeeded(config, next, captureScreen);
      log.info(
        { event: 'reload', users: next.users.size, needsRestart: changed },
        changed.length > 0 ? `reloaded; restart to apply ${changed.join(', ')}` : 'reloaded',
      );
      // What the new config no longer allows closes now, not at its deadline.
      void applier.revoke(mayKeep(next.users, built.keyUsers));
    } catch (err) {
      log.error({ event: 'config-error', message: (err as Error).message }, 'reload refused; keeping the running config');
    }
  };

  return { done, stop, reload };
}
