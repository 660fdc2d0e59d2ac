/**
 * `nft -j list ruleset` as chains for the evaluator in ruleset.ts: every chain on the input hook is
 * a base chain (all of them must accept a packet). Models port, protocol, source address, loopback,
 * conntrack state and family matches, named sets and concatenations (knockspa's own
 * `meta l4proto . th dport @protected drop`); anything else makes a rule a "maybe". A source match
 * against a grant set (knockspa's allow4/allow6, or the admin's nft_set) holds for a granted probe.
 * Pure: no I/O.
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

/** Named sets' elements by "family table name"; a set listed without elements has none. */
type Sets = ReadonlyMap<string, readonly unknown[]>;

/** Where a rule is: its table (for its named sets) and the sets that hold knockspa's grants. */
interface Scope {
  readonly table: string;
  readonly sets: Sets;
  readonly grantSets: ReadonlySet<string>;
}

/** A set element as listed: a bare value, or `{elem: {val, timeout, comment}}`. */
const elementValue = (e: unknown): unknown => (isObj(e) && isObj(e.elem) ? e.elem.val : e);

/** The elements a right-hand side stands for: a named set's, an anonymous set's, or undefined if unknown. */
function elementsOf(right: unknown, scope: Scope | undefined): readonly unknown[] | undefined {
  if (typeof right === 'string' && right.startsWith('@')) return scope?.sets.get(`${scope.table} ${right.slice(1)}`)?.map(elementValue);
  if (isObj(right) && Array.isArray(right.set)) return (right.set as unknown[]).map(elementValue);
  if (Array.isArray(right)) return right as unknown[];
  return undefined;
}

/** Whether `value` (a right-hand side: a value, a set, a range, a list of flags) contains x; undefined if unknowable (an unknown named set). */
function contains(value: unknown, x: number | string, scope?: Scope): boolean | undefined {
  if (typeof value === 'string' && value.startsWith('@')) {
    const elements = elementsOf(value, scope);
    return elements === undefined ? undefined : elements.some((v) => contains(v, x) === true);
  }
  if (typeof value === 'number' || typeof value === 'string') return value === x || String(value) === String(x);
  if (Array.isArray(value)) return value.some((v) => contains(v, x) === true);
  if (isObj(value)) {
    if (Array.isArray(value.set)) return value.set.some((v) => contains(elementValue(v), x) === true);
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

/** One part of a concatenation (`meta l4proto . th dport`) as a test of one element part. */
function concatPart(part: unknown): ((p: Probe, v: unknown) => boolean | undefined) | 'saddr4' | 'saddr6' | undefined {
  if (!isObj(part)) return undefined;
  if (isObj(part.meta) && part.meta.key === 'l4proto') return (p, v) => protoIs(v, p);
  const payload = isObj(part.payload) ? part.payload : undefined;
  if (payload === undefined) return undefined;
  if (payload.field === 'saddr') return payload.protocol === 'ip' ? 'saddr4' : payload.protocol === 'ip6' ? 'saddr6' : undefined;
  if (payload.field !== 'dport') return undefined;
  if (payload.protocol === 'th') return (p, v) => contains(v, p.port);
  if (payload.protocol === 'tcp' || payload.protocol === 'udp')
    return (p, v) => (p.proto !== payload.protocol ? false : contains(v, p.port));
  return undefined;
}

/**
 * A concatenation matched against a set. With a source address in it: only a grant set matches, and
 * only a granted probe of its family (see ruleset.ts: a rule for some sources is not one for everyone).
 */
function concatMatcher(parts: readonly unknown[], op: string, right: unknown, scope: Scope | undefined): (p: Probe) => Tri {
  const tests = parts.map(concatPart);
  const saddr = tests.find((t) => t === 'saddr4' || t === 'saddr6');
  if (saddr !== undefined) {
    const isGrantSet = typeof right === 'string' && scope !== undefined && scope.grantSets.has(`${scope.table} ${right.slice(1)}`);
    if (op !== '==' && op !== 'in') return () => (op === '!=' ? 'maybe' : 'no');
    return (p) => (isGrantSet && p.granted === true && (saddr === 'saddr4' ? 4 : 6) === p.family ? 'yes' : 'no');
  }
  const elements = elementsOf(right, scope);
  if (elements === undefined || tests.some((t) => typeof t !== 'function')) return () => 'maybe';
  const fns = tests as Array<(p: Probe, v: unknown) => boolean | undefined>;
  return (p) => {
    let found: boolean | undefined = false;
    for (const e of elements) {
      const values = isObj(e) && Array.isArray(e.concat) ? e.concat : undefined;
      if (values === undefined || values.length !== fns.length) {
        found = undefined;
        continue;
      }
      const each = fns.map((f, i) => f(p, values[i]));
      if (each.every((r) => r === true)) return compare(op, true);
      if (!each.includes(false)) found = undefined;
    }
    return compare(op, found);
  };
}

/** One `match` expression as a test of the imagined packet. */
function matcher(expr: Json, scope?: Scope): (p: Probe) => Tri {
  const op = typeof expr.op === 'string' ? expr.op : '==';
  const { left, right } = expr;
  if (!isObj(left)) return () => 'maybe';
  const payload = isObj(left.payload) ? left.payload : undefined;
  const meta = isObj(left.meta) ? left.meta.key : undefined;
  if (payload !== undefined) {
    const { protocol, field } = payload;
    if (field === 'dport') {
      if (protocol === 'th') return (p) => compare(op, contains(right, p.port, scope));
      if (protocol === 'tcp' || protocol === 'udp')
        return (p) => (p.proto !== protocol ? 'no' : compare(op, contains(right, p.port, scope)));
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
  if (Array.isArray(left.concat)) return concatMatcher(left.concat, op, right, scope);
  return () => 'maybe';
}

/** Statements that neither match nor decide. */
const PASSIVE = new Set(['counter', 'log', 'mangle', 'notrack', 'set', 'meter', 'ct', 'quota', 'synproxy']);

function parseRule(rule: Json, scope: Scope): Rule {
  const table = scope.table;
  const matchers: Array<(p: Probe) => Tri> = [];
  let target: Target = { kind: 'next' };
  for (const stmt of Array.isArray(rule.expr) ? rule.expr : []) {
    if (!isObj(stmt)) continue;
    const [kind] = Object.keys(stmt);
    const body = kind === undefined ? undefined : stmt[kind];
    if (kind === 'match' && isObj(body)) matchers.push(matcher(body, scope));
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

/** knockspa's own grant sets (nft-script.ts); set mode passes the admin's. */
export const OWN_GRANT_SETS: readonly string[] = ['inet knockspa allow4', 'inet knockspa allow6'];

/**
 * Parses `nft -j list ruleset`. `skip(family, table)` leaves tables out (iptables-nft's own
 * `ip filter` / `ip6 filter`, already read through `iptables -S`). `grantSets` ("family table set")
 * are the sets whose elements are knockspa's grants.
 */
export function parseNft(
  doc: unknown,
  skip: (family: string, table: string) => boolean = () => false,
  grantSets: readonly string[] = OWN_GRANT_SETS,
): NftRuleset {
  const items = isObj(doc) && Array.isArray(doc.nftables) ? (doc.nftables as unknown[]) : [];
  const chainInfo: Json[] = [];
  const rawRules: Json[] = [];
  const sets = new Map<string, unknown[]>();
  for (const item of items) {
    if (!isObj(item)) continue;
    const c = item.chain;
    const r = item.rule;
    const s = item.set;
    if (isObj(c) && !skip(String(c.family), String(c.table))) chainInfo.push(c);
    if (isObj(r) && !skip(String(r.family), String(r.table))) rawRules.push(r);
    if (isObj(s)) sets.set(chainKey(s.family, s.table, s.name), Array.isArray(s.elem) ? s.elem : []);
  }
  const grants = new Set(grantSets);
  const rules = new Map<string, Rule[]>();
  for (const r of rawRules) {
    const key = chainKey(r.family, r.table, r.chain);
    const list = rules.get(key) ?? [];
    list.push(parseRule(r, { table: `${String(r.family)} ${String(r.table)}`, sets, grantSets: grants }));
    rules.set(key, list);
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
