/**
 * `nft -j list ruleset` as chains for the evaluator in ruleset.ts: every chain on the input hook is
 * a base chain (all of them must accept a packet). Models port, protocol, source address, loopback,
 * conntrack state and family matches; anything else makes a rule a "maybe". Pure: no I/O.
 * @module
 */
import { all, type Chain, type Probe, type Rule, type Target, type Tri } from './ruleset.js';

type Json = Record<string, unknown>;

export interface NftRuleset {
  readonly chains: ReadonlyMap<string, Chain>;
  /** Input-hook chains, with the address families whose packets they see. */
  readonly bases: ReadonlyArray<{ readonly key: string; readonly families: readonly (4 | 6)[] }>;
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const chainKey = (family: unknown, table: unknown, name: unknown): string => `${String(family)} ${String(table)} ${String(name)}`;

function familiesOf(family: unknown): Array<4 | 6> {
  if (family === 'ip') return [4];
  if (family === 'ip6') return [6];
  if (family === 'inet') return [4, 6];
  return [];
}

/** Whether `value` (a right-hand side: a value, a set, a range, a list of flags) contains x; undefined if unknowable (a named set). */
function contains(value: unknown, x: number | string): boolean | undefined {
  if (typeof value === 'number' || typeof value === 'string') {
    if (typeof value === 'string' && value.startsWith('@')) return undefined;
    return value === x || String(value) === String(x);
  }
  if (Array.isArray(value)) return value.some((v) => contains(v, x) === true);
  if (isObj(value)) {
    if (Array.isArray(value.set)) return value.set.some((v) => contains(v, x) === true);
    const range = value.range;
    if (Array.isArray(range) && typeof x === 'number') return x >= Number(range[0]) && x <= Number(range[1]);
  }
  return undefined;
}

const PROTO_NUMBER = { tcp: 6, udp: 17 } as const;

function compare(op: string, found: boolean | undefined): Tri {
  if (found === undefined) return 'maybe';
  if (op === '==' || op === 'in') return found ? 'yes' : 'no';
  if (op === '!=') return found ? 'no' : 'yes';
  return 'maybe';
}

/** nft prints protocols by name or by number. */
function protoIs(right: unknown, p: Probe): boolean | undefined {
  const byName = contains(right, p.proto);
  const byNumber = contains(right, PROTO_NUMBER[p.proto]);
  return byName === true || byNumber === true ? true : (byName ?? byNumber);
}

/** One `match` expression as a test of the imagined packet. */
function matcher(expr: Json): (p: Probe) => Tri {
  const op = typeof expr.op === 'string' ? expr.op : '==';
  const { left, right } = expr;
  if (!isObj(left)) return () => 'maybe';
  const payload = isObj(left.payload) ? left.payload : undefined;
  const meta = isObj(left.meta) ? left.meta.key : undefined;
  if (payload !== undefined) {
    const { protocol, field } = payload;
    if (field === 'dport') {
      if (protocol === 'th') return (p) => compare(op, contains(right, p.port));
      if (protocol === 'tcp' || protocol === 'udp') return (p) => (p.proto !== protocol ? 'no' : compare(op, contains(right, p.port)));
      return () => 'no';
    }
    // A rule for some sources is not one for everyone (see ruleset.ts).
    if (field === 'saddr') return () => (op === '!=' ? 'yes' : 'no');
    if ((protocol === 'ip' && field === 'protocol') || (protocol === 'ip6' && field === 'nexthdr'))
      return (p) => compare(op, protoIs(right, p));
    return () => 'maybe';
  }
  if (meta === 'l4proto') return (p) => compare(op, protoIs(right, p));
  if (meta === 'nfproto') return (p) => compare(op, contains(right, p.family === 4 ? 'ipv4' : 'ipv6'));
  if (meta === 'iifname' || meta === 'iif') return () => (right === 'lo' ? compare(op, false) : 'maybe');
  if (isObj(left.ct) && left.ct.key === 'state') return (p) => compare(op, contains(right, p.state));
  if (Array.isArray(left.concat) && left.concat.some((part) => isObj(part) && isObj(part.payload) && part.payload.field === 'saddr'))
    return () => (op === '!=' ? 'maybe' : 'no');
  return () => 'maybe';
}

/** Statements that neither match nor decide. */
const PASSIVE = new Set(['counter', 'log', 'mangle', 'notrack', 'set', 'meter', 'ct', 'quota', 'synproxy']);

function parseRule(rule: Json, table: string): Rule {
  const matchers: Array<(p: Probe) => Tri> = [];
  let target: Target = { kind: 'next' };
  for (const stmt of Array.isArray(rule.expr) ? rule.expr : []) {
    if (!isObj(stmt)) continue;
    const [kind] = Object.keys(stmt);
    const body = kind === undefined ? undefined : stmt[kind];
    if (kind === 'match' && isObj(body)) matchers.push(matcher(body));
    else if (kind === 'accept') target = { kind: 'accept' };
    else if (kind === 'drop' || kind === 'reject') target = { kind: 'drop' };
    else if (kind === 'return') target = { kind: 'return' };
    else if (kind === 'continue') target = { kind: 'next' };
    else if ((kind === 'jump' || kind === 'goto') && isObj(body)) target = { kind, chain: `${table} ${String(body.target)}` };
    else if (kind === 'xt' && isObj(body) && body.type === 'target') target = { kind: 'unknown' };
    else if (kind !== undefined && !PASSIVE.has(kind)) matchers.push(() => 'maybe');
  }
  const text = `nft ${String(rule.family)} ${String(rule.table)} ${String(rule.chain)} rule handle ${String(rule.handle)}`;
  return { text, target, match: (p) => all(matchers.map((m) => m(p))) };
}

/**
 * Parses `nft -j list ruleset`. `skip(family, table)` leaves tables out (iptables-nft's own
 * `ip filter` / `ip6 filter`, already read through `iptables -S`).
 */
export function parseNft(doc: unknown, skip: (family: string, table: string) => boolean = () => false): NftRuleset {
  const items = isObj(doc) && Array.isArray(doc.nftables) ? (doc.nftables as unknown[]) : [];
  const chainInfo: Json[] = [];
  const rules = new Map<string, Rule[]>();
  for (const item of items) {
    if (!isObj(item)) continue;
    const c = item.chain;
    const r = item.rule;
    if (isObj(c) && !skip(String(c.family), String(c.table))) chainInfo.push(c);
    if (isObj(r) && !skip(String(r.family), String(r.table))) {
      const key = chainKey(r.family, r.table, r.chain);
      const list = rules.get(key) ?? [];
      list.push(parseRule(r, `${String(r.family)} ${String(r.table)}`));
      rules.set(key, list);
    }
  }
  const chains = new Map<string, Chain>();
  const bases: Array<{ key: string; families: Array<4 | 6> }> = [];
  for (const c of chainInfo) {
    const key = chainKey(c.family, c.table, c.name);
    const isBase = c.hook === 'input' && (c.type === undefined || c.type === 'filter');
    const policy = c.policy === 'drop' ? 'drop' : 'accept';
    chains.set(key, { name: key, rules: rules.get(key) ?? [], ...(isBase ? { policy } : {}) });
    if (isBase && familiesOf(c.family).length > 0) bases.push({ key, families: familiesOf(c.family) });
  }
  return { chains, bases };
}
