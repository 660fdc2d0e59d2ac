/**
 * knockspa's own nftables table (nft-script.ts, ownTableScript) as `nft -j list ruleset` prints
 * it: what doctor judges when the daemon has not set the table up yet, so the verdict is the one
 * the running daemon will give. Pure: no I/O.
 * @module
 */
import type { PortSpec } from '../protocol/ports.js';

const T = { family: 'inet', table: 'knockspa' } as const;
const HANDLE = '(added when the daemon starts)';

const payload = (protocol: string, field: string): unknown => ({ payload: { protocol, field } });
const l4proto = { meta: { key: 'l4proto' } };
const thDport = payload('th', 'dport');

function rule(expr: unknown[]): unknown {
  return { rule: { ...T, chain: 'input', handle: HANDLE, expr } };
}

/** The items of table inet knockspa, protecting `protect`. */
export function ownTableItems(protect: readonly PortSpec[]): unknown[] {
  const match = (left: unknown, right: unknown, op = '=='): unknown => ({ match: { op, left, right } });
  return [
    { table: { family: T.family, name: T.table } },
    { set: { ...T, name: 'allow4', type: ['ipv4_addr', 'inet_proto', 'inet_service'], flags: ['timeout'] } },
    { set: { ...T, name: 'allow6', type: ['ipv6_addr', 'inet_proto', 'inet_service'], flags: ['timeout'] } },
    { set: { ...T, name: 'protected', type: ['inet_proto', 'inet_service'], elem: protect.map((p) => ({ concat: [p.proto, p.port] })) } },
    { chain: { ...T, name: 'input', type: 'filter', hook: 'input', prio: -10, policy: 'accept' } },
    rule([match({ ct: { key: 'state' } }, ['established', 'related'], 'in'), { accept: null }]),
    rule([match({ meta: { key: 'iif' } }, 'lo'), { accept: null }]),
    rule([match({ concat: [payload('ip', 'saddr'), l4proto, thDport] }, '@allow4'), { accept: null }]),
    rule([match({ concat: [payload('ip6', 'saddr'), l4proto, thDport] }, '@allow6'), { accept: null }]),
    rule([match({ concat: [l4proto, thDport] }, '@protected'), { drop: null }]),
  ];
}

/** True if `doc` (`nft -j list ruleset`) has knockspa's input chain. */
export function hasOwnTable(doc: unknown): boolean {
  const items = (doc as { nftables?: unknown }).nftables;
  return (
    Array.isArray(items) &&
    items.some((i) => {
      const c = (i as { chain?: { family?: unknown; table?: unknown; name?: unknown } }).chain;
      return c?.family === T.family && c.table === T.table && c.name === 'input';
    })
  );
}

/** `doc` with the own table added if it is missing. */
export function withOwnTable(doc: unknown, protect: readonly PortSpec[]): unknown {
  if (hasOwnTable(doc)) return doc;
  const items = (doc as { nftables?: unknown }).nftables;
  const listed: unknown[] = Array.isArray(items) ? (items as unknown[]) : [];
  return { nftables: [...listed, ...ownTableItems(protect)] };
}
