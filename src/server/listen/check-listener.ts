/**
 * `server --check`'s look at the listener, without opening it (the running daemon may hold the
 * SPA port, and a capture needs the interface up): in pcap mode the pcap module must load and
 * the interface must exist. Throws ConfigError naming the key.
 * @module
 */
import { existsSync } from 'node:fs';
import type { ServerConfig } from '../config/config.js';
import { ConfigError } from '../../shared/errors.js';
import { loadPcap, PCAP_MISSING, type PcapModule } from './pcap.js';

export async function checkListener(config: ServerConfig, load: () => Promise<PcapModule> = loadPcap): Promise<string> {
  if (config.listen !== 'pcap') return `listen udp: the daemon binds ${config.address} udp/${config.port}`;
  try {
    await load();
  } catch (err) {
    const first = (err as Error).message.split('\n', 1)[0] ?? '';
    throw new ConfigError(config.file, 'listen', `${PCAP_MISSING}; loading it failed: ${first}`);
  }
  const name = config.interface ?? '';
  if (!/^[^/\0.][^/\0]*$/.test(name) || !existsSync(`/sys/class/net/${name}`))
    throw new ConfigError(config.file, 'interface', `a network interface of this host (ip link), got "${name}"`);
  return `listen pcap: the pcap module loads; interface ${name} exists`;
}
