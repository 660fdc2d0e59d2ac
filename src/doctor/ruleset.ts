/**
 * Does the firewall drop a port for everyone? A small evaluator over a ruleset read from
 * `iptables -S` or `nft -j list ruleset` (iptables-rules.ts, nft-rules.ts turn them into this form):
 * it follows one imagined packet from an arbitrary remote address through the input chains.
 *
 * Each rule says whether it applies to that packet: yes, no, or maybe (a match this evaluator does
 * not model, such as -m recent or an interface other than lo). A rule limited to some source
 * addresses does not apply: an ACCEPT for one address is what knockspa itself adds, and a DROP for
 * one address protects nobody else. Maybes are kept: a verdict reached past one is "unknown".
 * Pure: no I/O.
 * @module
 */
import type { Proto } from '../protocol/ports.js';

export type Tri = 'yes' | 'no' | 'maybe';

/** The packet: a new connection (its first packet) or one of an established one. */
export interface Probe {
  readonly family: 4 | 6;
  readonly proto: Proto;
  readonly port: number;
  readonly state: 'new' | 'established';
  /**
   * From an address knockspa has granted the port to (its set element or KNOCKSPA rule is there):
   * what a knock really opens. Otherwise from an arbitrary remote address.
   */
  readonly granted?: boolean;
}

export type Target =
  { readonly kind: 'accept' | 'drop' | 'return' | 'next' | 'unknown' } | { readonly kind: 'jump' | 'goto'; readonly chain: string };

export interface Rule {
  /** As the tool prints it, for the report. */
  readonly text: string;
  match(probe: Probe): Tri;
  readonly target: Target;
}

export interface Chain {
  readonly name: string;
  /** Base chains have a policy; user chains return to their caller at the end. */
  readonly policy?: 'accept' | 'drop';
  readonly rules: readonly Rule[];
}

export interface Verdict {
  readonly kind: 'accept' | 'drop' | 'unknown';
  /** The rule (or policy) that decided, or that made it uncertain. */
  readonly by: string;
}

type Walk = Verdict | { readonly kind: 'return'; readonly by: string };

/** Combines tri-state matches: all must hold. */
export function all(results: Iterable<Tri>): Tri {
  let out: Tri = 'yes';
  for (const r of results) {
    if (r === 'no') return 'no';
    if (r === 'maybe') out = 'maybe';
  }
  return out;
}

export function negate(t: Tri): Tri {
  return t === 'yes' ? 'no' : t === 'no' ? 'yes' : 'maybe';
}

const MAX_DEPTH = 32;

function walk(chains: ReadonlyMap<string, Chain>, name: string, probe: Probe, depth: number): Walk {
  const chain = chains.get(name);
  if (chain === undefined || depth > MAX_DEPTH) return { kind: 'unknown', by: `chain ${name} (not found or nested too deep)` };
  // The first rule that may have decided otherwise than the verdict finally reached.
  let maybeAccept: string | undefined;
  let maybeDrop: string | undefined;
  const decided = (kind: 'accept' | 'drop', by: string): Verdict => {
    const doubt = kind === 'accept' ? maybeDrop : maybeAccept;
    return doubt === undefined ? { kind, by } : { kind: 'unknown', by: doubt };
  };
  // Leaving a chain: a base chain's policy decides; a user chain returns to its caller.
  const leave = (): Walk => {
    if (chain.policy !== undefined) return decided(chain.policy, `${chain.name} policy ${chain.policy.toUpperCase()}`);
    const doubt = maybeAccept ?? maybeDrop;
    return doubt === undefined ? { kind: 'return', by: chain.name } : { kind: 'unknown', by: doubt };
  };
  for (const rule of chain.rules) {
    const m = rule.match(probe);
    if (m === 'no') continue;
    let outcome: Walk;
    const t = rule.target;
    if (t.kind === 'jump' || t.kind === 'goto') {
      outcome = walk(chains, t.chain, probe, depth + 1);
      if (outcome.kind === 'return') {
        if (t.kind === 'jump') continue;
        outcome = { kind: 'return', by: rule.text };
      }
    } else if (t.kind === 'next') continue;
    else outcome = { kind: t.kind, by: rule.text };

    if (m === 'yes') {
      if (outcome.kind === 'return') return leave();
      if (outcome.kind === 'unknown') return outcome;
      return decided(outcome.kind, outcome.by);
    }
    // A maybe: it may have decided here; remember it and go on as if it had not.
    if (outcome.kind === 'accept') maybeAccept ??= rule.text;
    else if (outcome.kind === 'drop') maybeDrop ??= rule.text;
    else if (outcome.kind === 'unknown') {
      maybeAccept ??= rule.text;
      maybeDrop ??= rule.text;
    }
  }
  return leave();
}

/** The verdict of one base chain for the probe. */
export function chainVerdict(chains: ReadonlyMap<string, Chain>, base: string, probe: Probe): Verdict {
  const v = walk(chains, base, probe, 0);
  return v.kind === 'return' ? { kind: 'unknown', by: `${base} returned without a policy` } : v;
}

/**
 * Several base chains on the input hook (iptables' INPUT, nftables tables): a drop in any drops the
 * packet; it gets in only if every one accepts it.
 */
export function combine(verdicts: readonly Verdict[]): Verdict {
  const drop = verdicts.find((v) => v.kind === 'drop');
  if (drop !== undefined) return drop;
  const unknown = verdicts.find((v) => v.kind === 'unknown');
  if (unknown !== undefined) return unknown;
  return verdicts[0] ?? { kind: 'accept', by: 'no input chain at all' };
}

/** True if a port spec like "22", "1000:2000" covers `port`. */
export function portIn(spec: string, port: number): boolean {
  const [lo, hi] = spec.split(':');
  const from = lo === undefined || lo === '' ? 0 : Number(lo);
  const to = hi === undefined ? from : hi === '' ? 65535 : Number(hi);
  return port >= from && port <= to;
}
