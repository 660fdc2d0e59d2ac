/**
 * nftables text: the scripts knockspa feeds to `nft -f -` (its own table; element changes) and
 * the parsing of `nft -j list set` output. Pure: no I/O, the clock is passed in.
 * @module
 */
import { canonicalIp } from '../../protocol/address.js';
import { formatPortSpec, type PortSpec, type Proto } from '../../protocol/ports.js';
import { entryComment, parseComment } from './comment.js';
import type { Change, Entry, Rule } from './firewall.js';

/** An nftables set named as `FAMILY TABLE SET`, e.g. "inet filter knockspa". */
export interface NftSetRef {
  readonly family: 'ip' | 'ip6' | 'inet';
  readonly table: string;
  readonly set: string;
}

const NFT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

export function parseNftSetRef(text: string): NftSetRef | null {
  const [family, table, set, extra] = text.trim().split(/\s+/);
  if (extra !== undefined || table === undefined || set === undefined) return null;
  if (family !== 'ip' && family !== 'ip6' && family !== 'inet') return null;
  if (!NFT_NAME.test(table) || !NFT_NAME.test(set)) return null;
  return { family, table, set };
}

export function formatNftSetRef(ref: NftSetRef): string {
  return `${ref.family} ${ref.table} ${ref.set}`;
}

/** knockspa's own table and what is in it. */
export const OWN_TABLE = 'inet knockspa';
export const OWN_SETS: Readonly<Record<4 | 6, NftSetRef>> = {
  4: { family: 'inet', table: 'knockspa', set: 'allow4' },
  6: { family: 'inet', table: 'knockspa', set: 'allow6' },
};
/**
 * Runs just before the usual filter chains (priority filter = 0, also where iptables-nft's INPUT
 * is): a protected port is dropped before other chains count or log it. Any priority would be as
 * safe, since a drop in any base chain is final.
 */
export const CHAIN_PRIORITY = 'filter - 10';

const TYPES: Readonly<Record<4 | 6, string>> = { 4: 'ipv4_addr . inet_proto . inet_service', 6: 'ipv6_addr . inet_proto . inet_service' };

/**
 * Creates knockspa's table, or repairs it in place: sets are only added if missing (their
 * elements, the live grants, stay), the chain's rules and the protected ports are rewritten.
 * One transaction: nothing is ever half set up.
 */
export function ownTableScript(protect: readonly PortSpec[]): string {
  const t = OWN_TABLE;
  const lines = [
    `add table ${t}`,
    `add set ${t} allow4 { type ${TYPES[4]}; flags timeout; }`,
    `add set ${t} allow6 { type ${TYPES[6]}; flags timeout; }`,
    `add set ${t} protected { type inet_proto . inet_service; }`,
    `flush set ${t} protected`,
  ];
  if (protect.length > 0) lines.push(`add element ${t} protected { ${protect.map((p) => `${p.proto} . ${p.port}`).join(', ')} }`);
  lines.push(
    `add chain ${t} input { type filter hook input priority ${CHAIN_PRIORITY}; policy accept; }`,
    `flush chain ${t} input`,
    // A connection made during a grant outlives it, like with the iptables base ruleset.
    `add rule ${t} input ct state established,related accept`,
    `add rule ${t} input iif lo accept`,
    `add rule ${t} input ip saddr . meta l4proto . th dport @allow4 accept`,
    `add rule ${t} input ip6 saddr . meta l4proto . th dport @allow6 accept`,
    `add rule ${t} input meta l4proto . th dport @protected drop`,
  );
  return `${lines.join('\n')}\n`;
}

function element(rule: Rule): string {
  return `${rule.ip} . ${rule.proto} . ${rule.port}`;
}

/**
 * Element changes. The kernel drops an element at its timeout. Adding an element that is there
 * is a no-op, so "add, delete" removes an element whether or not it is still there (the kernel
 * may have expired it a moment before the daemon's own timer fired) and never fails the batch.
 * A new grant is a plain add: a delete costs several times an add (npm run bench:firewall),
 * and a leftover element with an older timeout would only close early.
 */
export function changesScript(changes: readonly { readonly set: NftSetRef; readonly change: Change }[], nowMs: number): string {
  const lines: string[] = [];
  for (const { set, change } of changes) {
    const rule = change.after ?? change.before;
    if (rule === undefined) continue;
    const s = `element ${formatNftSetRef(set)} { ${element(rule)}`;
    if (change.before !== undefined) lines.push(`add ${s} }`, `delete ${s} }`);
    const after = change.after;
    if (after !== undefined) {
      const timeoutMs = Math.max(1000, Math.ceil(after.deadlineMs - nowMs));
      lines.push(`add ${s} timeout ${timeoutMs}ms comment "${entryComment(after)}" }`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** The parts of `nft -j list set` output knockspa reads. */
export interface ListedSet {
  readonly type: readonly string[];
  readonly flags: readonly string[];
  readonly elements: readonly unknown[];
}

export function parseListedSet(json: string): ListedSet | null {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return null;
  }
  const items = (doc as { nftables?: unknown }).nftables;
  if (!Array.isArray(items)) return null;
  for (const item of items) {
    const set = (item as { set?: Record<string, unknown> }).set;
    if (set === undefined) continue;
    const type = typeof set.type === 'string' ? [set.type] : Array.isArray(set.type) ? set.type.map(String) : [];
    const flags = Array.isArray(set.flags) ? set.flags.map(String) : [];
    return { type, flags, elements: Array.isArray(set.elem) ? set.elem : [] };
  }
  return null;
}

/** The address family a set's type fits knockspa for, or what is wrong with it. */
export function setFamily(set: ListedSet): 4 | 6 | string {
  const type = set.type.join(' . ');
  const family = type === TYPES[4] ? 4 : type === TYPES[6] ? 6 : null;
  if (family === null) return `type ${type || '?'}; expected "${TYPES[4]}" or "${TYPES[6]}"`;
  if (!set.flags.includes('timeout')) return 'no "flags timeout"; the kernel must be able to expire elements';
  return family;
}

const PROTOS: Readonly<Record<string, Proto>> = { tcp: 'tcp', udp: 'udp', '6': 'tcp', '17': 'udp' };

/** knockspa's elements (those with its comment) of a listed set; the deadline is the kernel's. */
export function listedEntries(set: ListedSet, family: 4 | 6, nowMs: number): Entry[] {
  const entries: Entry[] = [];
  for (const item of set.elements) {
    const elem = (item as { elem?: Record<string, unknown> }).elem;
    const parts = (elem?.val as { concat?: unknown } | undefined)?.concat;
    if (elem === undefined || typeof elem.comment !== 'string' || !Array.isArray(parts) || parts.length !== 3) continue;
    const ip = canonicalIp(String(parts[0]));
    const proto = PROTOS[String(parts[1])];
    const port = Number(parts[2]);
    if (ip === null || proto === undefined || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    const owner = parseComment(elem.comment, { ip, proto, port });
    if (owner === null) continue;
    const deadlineMs = typeof elem.expires === 'number' ? nowMs + elem.expires * 1000 : owner.deadlineMs;
    entries.push({ ip, family, proto, port, user: owner.user, deadlineMs });
  }
  return entries;
}

export function describeProtected(protect: readonly PortSpec[]): string {
  return protect.map(formatPortSpec).join(', ');
}
