/**
 * The daemon: wires config, keys, state, firewall, grants, pipeline and listener together,
 * and handles signals (TERM/INT: close every grant and exit 0; HUP: reload config and keys,
 * keeping live grants; a bad new config is logged and the old one stays).
 * @module
 */
import type { Logger } from 'pino';
import { ReplayGuard } from '../protocol/replay.js';
import { loadConfig, type ServerConfig } from './config.js';
import { ConfigError } from './config-error.js';
import { DryRunFirewall } from './firewall/dry-run.js';
import type { Firewall } from './firewall/firewall.js';
import { IptablesFirewall } from './firewall/iptables.js';
import { packetFormats } from './formats.js';
import { Grants } from './grants.js';
import { loadKeys } from './keystore.js';
import type { Listener } from './listen/listener.js';
import { PcapListener } from './listen/pcap.js';
import { UdpListener } from './listen/udp.js';
import { Pipeline, type PipelinePolicy } from './pipeline.js';
import { RejectLog, SUMMARY_INTERVAL_MS } from './reject-log.js';
import { StateStore, STATE_VERSION, type DaemonState } from './state.js';

export function makeFirewall(config: ServerConfig, log: Logger): Firewall {
  return config.firewall === 'dry-run' ? new DryRunFirewall(log) : new IptablesFirewall();
}

export function makeListener(config: ServerConfig): Listener {
  if (config.listen === 'pcap') return new PcapListener({ interface: config.interface as string, port: config.port });
  return new UdpListener({ address: config.address, port: config.port });
}

/** Keys and verifier for a loaded config; throws ConfigError. On reload a user without key files is revoked, not an error. */
function buildPolicy(config: ServerConfig, replay: ReplayGuard, notBeforeMs: number, log: Logger, missingKeys: 'error' | 'revoke' = 'error'): PipelinePolicy {
  const { keyring, warnings } = loadKeys(config, { missing: missingKeys });
  for (const warning of warnings) log.warn({ event: 'key-warning', message: warning }, warning);
  const verifier = packetFormats(config, keyring, replay);
  return { verifier, users: config.users, defaultDurationSec: config.defaultDurationSec, notBeforeMs };
}

/** Checks config, keys and firewall access without starting; throws on the first problem. */
export async function checkServer(path: string, log: Logger): Promise<ServerConfig> {
  const config = loadConfig(path);
  buildPolicy(config, new ReplayGuard(config.replayCapacity), 0, log);
  await makeFirewall(config, log).check();
  return config;
}

export interface RunningDaemon {
  /** Resolves with the exit code once the daemon has stopped. */
  readonly done: Promise<number>;
  stop(): Promise<void>;
  reload(): void;
}

export async function startDaemon(path: string, log: Logger, now: () => number = Date.now): Promise<RunningDaemon> {
  const config = loadConfig(path);

  const store = new StateStore(config.stateDir);
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
  } else {
    replay = new ReplayGuard(config.replayCapacity);
    // Without the cache a packet seen before could pass again: refuse anything made before now.
    notBeforeMs = now();
    if (loaded.kind === 'corrupt') log.error({ event: 'state-corrupt', error: loaded.error, movedTo: loaded.movedTo }, 'state file unreadable; starting without it');
  }
  const policy = buildPolicy(config, replay, notBeforeMs, log);

  const firewall = makeFirewall(config, log);
  await firewall.check();
  const snapshot = (): DaemonState => ({ version: STATE_VERSION, replay: replay.toState(), grants: grants.records() });
  const persist = (): Promise<void> =>
    store.save(snapshot).catch((err: unknown) => log.error({ event: 'state-error', error: String(err) }, 'cannot write state'));
  const grants = new Grants({ firewall, log, now, persist });
  await grants.restore(loaded.kind === 'ok' ? loaded.state.grants : []);

  const rejects = new RejectLog(log, now);
  const pipeline = new Pipeline({ log, rejects, grants, now, persist }, policy);
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
    { event: 'start', listener: listener.description, port: config.port, users: config.users.size, firewall: firewall.name, serverId: config.serverId, grants: grants.size },
    'knockspa listening',
  );

  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      clearInterval(flushTimer);
      await listener.close().catch(() => undefined);
      await grants.closeAll('shutdown');
      rejects.flush();
      await persist();
      log.info({ event: 'stop' }, 'knockspa stopped');
      resolveDone(0);
    })());

  const reload = (): void => {
    try {
      const next = loadConfig(path);
      pipeline.policy = buildPolicy(next, replay, pipeline.policy.notBeforeMs, log, 'revoke');
      const changed = (['listen', 'address', 'interface', 'port', 'firewall', 'stateDir', 'replayCapacity'] as const).filter((k) => next[k] !== config[k]);
      log.info({ event: 'reload', users: next.users.size, needsRestart: changed }, changed.length > 0 ? `reloaded; restart to apply ${changed.join(', ')}` : 'reloaded');
    } catch (err) {
      log.error({ event: 'config-error', message: (err as Error).message }, 'reload refused; keeping the running config');
    }
  };

  return { done, stop, reload };
}
