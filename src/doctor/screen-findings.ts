/**
 * Doctor: the kernel screen of the SPA port (firewall/screen.ts) is in place and lets through
 * exactly the keyring's key ids; what it has dropped.
 * @module
 */
import { pino } from 'pino';
import type { ServerConfig } from '../server/config/config.js';
import { loadKeys } from '../server/config/keystore.js';
import { loadSshKeys } from '../server/config/ssh-users.js';
import { makeFirewall } from '../server/firewall/registry.js';
import { readScreenCounters } from '../server/firewall/screen-counters.js';
import { SCREEN_REASONS, type ScreenCounters } from '../server/firewall/screen.js';
import type { Firewall } from '../server/firewall/firewall.js';
import { fail, ok, warn, type Finding } from './finding.js';

export async function screenFindings(config: ServerConfig): Promise<Finding[]> {
  if (!config.kernelScreen) return [ok('kernel screen off (kernel_screen = false): the daemon screens every datagram itself')];
  const pcap = config.listen === 'pcap' ? [ok('capture filter screens the length and first byte of what reaches the daemon')] : [];
  if (config.firewallSettings.backend.capabilities.screensSpaPort !== true)
    return [...pcap, ok(`firewall ${config.firewall} here has no kernel screen: the daemon screens every datagram itself`)];
  const firewall = makeFirewall(config, pino({ enabled: false }));
  // A screen of length and first byte only (iptables): in place or not; key ids are the daemon's.
  if (firewall.screenKeyIds === undefined) return [...pcap, ...(await shapeScreenFindings(firewall))];
  let inKernel: string[] | null;
  try {
    inKernel = (await firewall.screenKeyIds?.()) ?? null;
  } catch (err) {
    return [...pcap, fail(`kernel screen unreadable: ${(err as Error).message}`, 'run doctor as root')];
  }
  if (inKernel === null)
    return [...pcap, warn('kernel screen not in place (the daemon puts it in at start, takes it out at stop)', 'start the daemon')];
  let expected: string[];
  try {
    const ssh = loadSshKeys(config, { missing: 'revoke' });
    expected = [
      ...[...loadKeys(config, { missing: 'revoke' }).keyring.entries()].map((e) => e.keyIdHex),
      ...(ssh === null ? [] : [...ssh.keyring.entries()].map((e) => e.candidateHex)),
    ].sort();
  } catch {
    return [...pcap, warn('kernel screen in place; the keys cannot be read to compare (see the key findings)', 'fix the keys')];
  }
  const missing = expected.filter((k) => !inKernel.includes(k));
  const extra = inKernel.filter((k) => !expected.includes(k));
  if (missing.length > 0 || extra.length > 0)
    return [
      ...pcap,
      fail(
        `kernel screen out of sync with the keys: ${missing.length} key id(s) missing (their knocks are dropped: ${missing.join(', ') || '-'}), ${extra.length} not in the keys (${extra.join(', ') || '-'})`,
        'reload the daemon (systemctl reload knockspa)',
      ),
    ];
  const counters = await readScreenCounters(firewall).catch(() => null);
  const dropped = counters === null ? 'counters unreadable' : SCREEN_REASONS.map((r) => `${r} ${counters[r]}`).join(', ');
  return [...pcap, ok(`kernel screen in place, in sync with the keys (${inKernel.length} key id(s)); dropped: ${dropped}`)];
}

async function shapeScreenFindings(firewall: Firewall): Promise<Finding[]> {
  let counters: ScreenCounters | null;
  try {
    counters = await readScreenCounters(firewall);
  } catch (err) {
    return [fail(`kernel screen unreadable: ${(err as Error).message}`, 'run doctor as root')];
  }
  if (counters === null)
    return [warn('kernel screen not in place (the daemon puts it in at start, takes it out at stop)', 'start the daemon')];
  const dropped = SCREEN_REASONS.filter((r) => r !== 'key_id')
    .map((r) => `${r} ${counters[r]}`)
    .join(', ');
  return [ok(`kernel screen in place (length and first byte; key ids are the daemon's to check); dropped: ${dropped}`)];
}
