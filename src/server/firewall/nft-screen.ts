/**
 * nftables text of the kernel screen (screen.ts) in knockspa's own table: a chain on the input
 * hook, before the grants' chain and the socket, that drops on the SPA port what cannot be a
 * knock, one named counter per reason; the keyring's key ids are a set matched against the raw
 * payload. Pure.
 * @module
 */
import { SCREEN_REASONS, UDP_HEADER_SIZE, type KernelScreen, type ScreenCounters, type ScreenReason } from './screen.js';
import { OWN_TABLE } from './nft-script.js';

export const SCREEN_CHAIN = 'screen';
export const KEY_ID_SET = 'key_ids';
/** Before knockspa's input chain (filter - 10): junk is gone before anything else looks at it. */
export const SCREEN_PRIORITY = 'filter - 20';

export function counterName(reason: ScreenReason): string {
  return `screen_${reason}`;
}

/** `@th,OFFSET,LEN` of `bytes` bytes at `offset` in the UDP payload. */
function payloadField(offset: number, bytes: number): string {
  return `@th,${(UDP_HEADER_SIZE + offset) * 8},${bytes * 8}`;
}

/**
 * Creates the screen or brings it up to date in one transaction: the key id set is refilled, the
 * chain rewritten; the counters are kept (added only if missing).
 */
export function screenScript(screen: KernelScreen): string {
  const t = OWN_TABLE;
  const keyId = payloadField(screen.keyIdOffset, screen.keyIdSize);
  const knockLength = screen.size + UDP_HEADER_SIZE;
  const sshLengths = (screen.ssh?.sizes ?? []).map((n) => n + UDP_HEADER_SIZE);
  const fwknop = screen.fwknop === null ? null : { min: screen.fwknop.min + UDP_HEADER_SIZE, max: screen.fwknop.max + UDP_HEADER_SIZE };
  const allowed = [`${knockLength}`, ...sshLengths.map(String), ...(fwknop === null ? [] : [`${fwknop.min}-${fwknop.max}`])];
  const lengths = allowed.length === 1 ? allowed[0] : `{ ${allowed.join(', ')} }`;
  // An SSH length inside fwknop's range may be a fwknop packet: there only a 0xCC packet must have a known candidate id.
  const inFwknop = (n: number): boolean => fwknop !== null && n >= fwknop.min && n <= fwknop.max;
  const sshOwn = sshLengths.filter((n) => !inFwknop(n));
  const sshShared = sshLengths.filter(inFwknop);
  const set = (ns: number[]): string => (ns.length === 1 ? `${ns[0]}` : `{ ${ns.join(', ')} }`);
  const sshMagic = `0x${(screen.ssh?.magic ?? 0).toString(16)}`;
  const on = `${t} ${SCREEN_CHAIN} udp dport ${screen.port}`;
  const lines = [`add table ${t}`, ...SCREEN_REASONS.map((r) => `add counter ${t} ${counterName(r)}`)];
  lines.push(`add set ${t} ${KEY_ID_SET} { typeof ${keyId}; }`, `flush set ${t} ${KEY_ID_SET}`);
  if (screen.keyIds.length > 0) lines.push(`add element ${t} ${KEY_ID_SET} { ${screen.keyIds.map((k) => `0x${k}`).join(', ')} }`);
  lines.push(
    `add chain ${t} ${SCREEN_CHAIN} { type filter hook input priority ${SCREEN_PRIORITY}; policy accept; }`,
    `flush chain ${t} ${SCREEN_CHAIN}`,
    `add rule ${on} udp length != ${lengths} counter name "${counterName('length')}" drop`,
    // fwknop lengths never equal a knockspa packet's (fwknop/constants.ts), so these only see knockspa's length.
    `add rule ${on} udp length ${knockLength} ${payloadField(0, 1)} != 0x${screen.magic.toString(16)} counter name "${counterName('magic')}" drop`,
    `add rule ${on} udp length ${knockLength} ${keyId} != @${KEY_ID_SET} counter name "${counterName('key_id')}" drop`,
  );
  if (sshOwn.length > 0)
    lines.push(
      `add rule ${on} udp length ${set(sshOwn)} ${payloadField(0, 1)} != ${sshMagic} counter name "${counterName('magic')}" drop`,
      `add rule ${on} udp length ${set(sshOwn)} ${keyId} != @${KEY_ID_SET} counter name "${counterName('key_id')}" drop`,
    );
  if (sshShared.length > 0)
    lines.push(
      `add rule ${on} udp length ${set(sshShared)} ${payloadField(0, 1)} ${sshMagic} ${keyId} != @${KEY_ID_SET} counter name "${counterName('key_id')}" drop`,
    );
  return `${lines.join('\n')}\n`;
}

/** Takes the screen out of the table, whether or not it is there (an add before each delete). */
export function removeScreenScript(): string {
  const t = OWN_TABLE;
  const lines = [
    `add table ${t}`,
    `add chain ${t} ${SCREEN_CHAIN}`,
    `delete chain ${t} ${SCREEN_CHAIN}`,
    `add set ${t} ${KEY_ID_SET} { typeof ${payloadField(2, 8)}; }`,
    `delete set ${t} ${KEY_ID_SET}`,
  ];
  for (const r of SCREEN_REASONS) lines.push(`add counter ${t} ${counterName(r)}`, `delete counter ${t} ${counterName(r)}`);
  return `${lines.join('\n')}\n`;
}

/** The screen's counters in `nft -j list counters table inet knockspa` output; null if any is missing. */
export function parseScreenCounters(json: string): ScreenCounters | null {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return null;
  }
  const items = (doc as { nftables?: unknown }).nftables;
  if (!Array.isArray(items)) return null;
  const found = new Map<string, number>();
  for (const item of items) {
    const c = (item as { counter?: { name?: unknown; packets?: unknown } }).counter;
    if (c !== undefined && typeof c.name === 'string' && typeof c.packets === 'number') found.set(c.name, c.packets);
  }
  const counters: Partial<Record<ScreenReason, number>> = {};
  for (const r of SCREEN_REASONS) {
    const packets = found.get(counterName(r));
    if (packets === undefined) return null;
    counters[r] = packets;
  }
  return counters as ScreenCounters;
}

/**
 * The key ids in `nft list set inet knockspa key_ids` text output (hex, as the screen holds them),
 * sorted; the JSON output prints them as numbers past 2^53.
 */
export function parseKeyIdSet(text: string, keyIdSize: number): string[] {
  const elements = /elements\s*=\s*\{([^}]*)\}/.exec(text)?.[1] ?? '';
  return [...elements.matchAll(/0x([0-9a-f]+)/gi)].map((m) => (m[1] as string).toLowerCase().padStart(keyIdSize * 2, '0')).sort();
}
