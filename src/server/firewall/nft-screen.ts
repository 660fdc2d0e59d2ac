/**
 * nftables text of the kernel screen (screen.ts) in knockspa's own table: a chain on the input
 * hook, before the grants' chain and the socket, that drops on the SPA port what cannot be a
 * knock, one named counter per reason; the keyring's key ids are a set matched against the raw
 * payload. Pure.
 * @module
 */
import {
  keyIdTests,
  magicTests,
  SCREEN_REASONS,
  udpLengths,
  UDP_HEADER_SIZE,
  type KernelScreen,
  type ScreenCounters,
  type ScreenReason,
  type UdpLengths,
} from './screen.js';
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
  const range = (r: UdpLengths): string => (r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`);
  const anyOf = (items: readonly string[]): string => (items.length === 1 ? (items[0] as string) : `{ ${items.join(', ')} }`);
  const hex = (b: number): string => `0x${b.toString(16)}`;
  const firstByte = payloadField(0, 1);
  const on = `${t} ${SCREEN_CHAIN} udp dport ${screen.port}`;
  const lines = [`add table ${t}`, ...SCREEN_REASONS.map((r) => `add counter ${t} ${counterName(r)}`)];
  lines.push(`add set ${t} ${KEY_ID_SET} { typeof ${keyId}; }`, `flush set ${t} ${KEY_ID_SET}`);
  if (screen.keyIds.length > 0) lines.push(`add element ${t} ${KEY_ID_SET} { ${screen.keyIds.map((k) => `0x${k}`).join(', ')} }`);
  lines.push(
    `add chain ${t} ${SCREEN_CHAIN} { type filter hook input priority ${SCREEN_PRIORITY}; policy accept; }`,
    `flush chain ${t} ${SCREEN_CHAIN}`,
    `add rule ${on} udp length != ${anyOf(udpLengths(screen).map(range))} counter name "${counterName('length')}" drop`,
    ...magicTests(screen).map(
      (m) =>
        `add rule ${on} udp length ${range(m.lengths)} ${firstByte} != ${anyOf(m.magics.map(hex))} counter name "${counterName('magic')}" drop`,
    ),
  );
  // One key id rule per magic, over every length a format with that magic has.
  const byMagic = new Map<number, string[]>();
  for (const k of keyIdTests(screen)) byMagic.set(k.magic, [...(byMagic.get(k.magic) ?? []), range(k.lengths)]);
  for (const [magic, lengths] of byMagic)
    lines.push(
      `add rule ${on} udp length ${anyOf(lengths)} ${firstByte} ${hex(magic)} ${keyId} != @${KEY_ID_SET} counter name "${counterName('key_id')}" drop`,
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
