/**
 * What a reload (SIGHUP) leaves as it was: the settings the running daemon set up at start and
 * cannot change in place. The reload log names those that differ ("restart to apply ...").
 * @module
 */
import type { ServerConfig } from './config.js';

const AT_START = ['listen', 'address', 'interface', 'port', 'firewall', 'stateDir', 'replayCapacity'] as const;

/**
 * The names of the settings `next` changes that only a restart applies. `captureFilter` is the
 * pcap filter a config sets up at start (fwknop users need its fwknop lengths).
 */
export function restartNeeded(running: ServerConfig, next: ServerConfig, captureFilter: (config: ServerConfig) => unknown): string[] {
  const changed: string[] = AT_START.filter((k) => next[k] !== running[k]);
  // protect is applied live; the other firewall settings need a restart.
  if (JSON.stringify({ ...next.firewallSettings, protect: [] }) !== JSON.stringify({ ...running.firewallSettings, protect: [] }))
    changed.push('firewall settings');
  if (running.listen === 'pcap' && JSON.stringify(captureFilter(next)) !== JSON.stringify(captureFilter(running)))
    changed.push('capture filter');
  // The Redis connection, the gateway's name, grants and on_redis_down are taken at start (the password file's content too).
  if (JSON.stringify(next.cluster ?? null) !== JSON.stringify(running.cluster ?? null)) changed.push('cluster');
  return changed;
}
