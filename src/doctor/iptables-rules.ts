/**
 * `iptables -S` / `ip6tables -S` output as chains for the evaluator in ruleset.ts. Models the
 * matches base rulesets use (-p, -s, -i lo, --dport(s), conntrack/state, --syn); any other match
 * makes a rule a "maybe". knockspa's own chain KNOCKSPA holds, for a granted probe, the rule the
 * daemon adds for the knocking address. Pure: no I/O.
 * @module
 */
import { CHAIN } from '../server/firewall/iptables.js';
import { parseScreenRule } from '../server/firewall/iptables-screen.js';
import { all, negate, portIn, type Chain, type Probe, type Rule, type Target, type Tri } from './ruleset.js';

/** Splits a rule line into words; "double quoted" words (comments) may hold spaces and \" escapes. */
export function tokenize(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line))
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] as string));
  return words;
}

/** Targets that do not end a packet's walk through the chain. */
const NON_TERMINAL = new Set([
  'LOG',
  'NFLOG',
  'ULOG',
  'MARK',
  'CONNMARK',
  'TRACE',
  'AUDIT',
  'CT',
  'NOTRACK',
  'TCPMSS',
  'CLASSIFY',
  'DSCP',
  'TOS',
  'TTL',
  'HL',
  'SET',
]);

function targetOf(name: string, goto: boolean, userChains: ReadonlySet<string>): Target {
  if (name === 'ACCEPT') return { kind: 'accept' };
  if (name === 'DROP' || name === 'REJECT') return { kind: 'drop' };
  if (name === 'RETURN') return { kind: 'return' };
  if (userChains.has(name)) return { kind: goto ? 'goto' : 'jump', chain: name };
  if (NON_TERMINAL.has(name)) return { kind: 'next' };
  return { kind: 'unknown' };
}

function protoMatches(value: string, p: Probe): Tri {
  const v = value.toLowerCase();
  if (v === 'all' || v === '0') return 'yes';
  if (v === 'tcp' || v === '6') return p.proto === 'tcp' ? 'yes' : 'no';
  if (v === 'udp' || v === '17') return p.proto === 'udp' ? 'yes' : 'no';
  return 'no';
}

const yesIf = (b: boolean): Tri => (b ? 'yes' : 'no');

function parseRule(text: string, words: readonly string[], userChains: ReadonlySet<string>): Rule {
  const matchers: Array<(p: Probe) => Tri> = [];
  let target: Target = { kind: 'next' };
  let i = 2; // after "-A CHAIN"
  while (i < words.length) {
    let negated = false;
    if (words[i] === '!') {
      negated = true;
      i++;
    }
    const option = words[i++] ?? '';
    const value = (): string => words[i++] ?? '';
    const add = (f: (p: Probe) => Tri): void => {
      matchers.push(negated ? (p) => negate(f(p)) : f);
    };
    switch (option) {
      case '-p':
      case '--protocol': {
        const v = value();
        add((p) => protoMatches(v, p));
        break;
      }
      case '-s':
      case '--source': {
        // A rule for some sources is not one for everyone (see ruleset.ts).
        const v = value();
        add(() => yesIf(v === '0.0.0.0/0' || v === '::/0'));
        break;
      }
      case '-d':
      case '--destination': {
        const v = value();
        add(() => (v === '0.0.0.0/0' || v === '::/0' ? 'yes' : 'maybe'));
        break;
      }
      case '-i':
      case '--in-interface': {
        // The imagined packet comes from the network, never from loopback.
        const v = value();
        add(() => (v === 'lo' ? 'no' : v === '+' ? 'yes' : 'maybe'));
        break;
      }
      case '-o':
      case '--out-interface':
        value();
        break;
      case '-m':
      case '--match':
        value(); // the module; its options follow and are read one by one
        break;
      case '--comment':
        value();
        break;
      case '--dport':
      case '--destination-port': {
        const v = value();
        add((p) => yesIf(portIn(v, p.port)));
        break;
      }
      case '--dports':
      case '--destination-ports':
      case '--ports': {
        const v = value();
        add((p) => yesIf(v.split(',').some((s) => portIn(s, p.port))));
        break;
      }
      case '--ctstate':
      case '--state': {
        const states = value().split(',');
        add((p) => yesIf(states.includes(p.state === 'new' ? 'NEW' : 'ESTABLISHED')));
        break;
      }
      case '--syn':
        add((p) => yesIf(p.proto === 'tcp' && p.state === 'new'));
        break;
      case '-j':
      case '--jump':
      case '-g':
      case '--goto':
        target = targetOf(value(), option === '-g' || option === '--goto', userChains);
        i = words.length; // the rest are the target's own options
        break;
      default:
        // Not modelled (-m recent, limit, set, --sport, ...): skip its values, and be unsure.
        while (i < words.length && !(words[i] as string).startsWith('-') && words[i] !== '!') i++;
        add(() => 'maybe');
    }
  }
  return { text, target, match: (p) => all(matchers.map((m) => m(p))) };
}

/** The rule the daemon adds to KNOCKSPA for a knock (`-s IP -p PROTO --dport PORT -j ACCEPT`). */
export const GRANT_RULE: Rule = {
  text: `-A ${CHAIN} -s KNOCKING-ADDRESS -j ACCEPT (the rule a knock adds)`,
  match: (p) => (p.granted === true ? 'yes' : 'no'),
  target: { kind: 'accept' },
};

/** As the daemon's setup leaves it: KNOCKSPA (with a grant) and INPUT's jump to it at `position`, if missing. */
export function withOwnChain(chains: ReadonlyMap<string, Chain>, position: number): Map<string, Chain> {
  const out = new Map(chains);
  if (chains.has(CHAIN)) return out;
  out.set(CHAIN, { name: CHAIN, rules: [GRANT_RULE] });
  const input = chains.get('INPUT') ?? { name: 'INPUT', policy: 'accept', rules: [] };
  const jump: Rule = {
    text: `-A INPUT -j ${CHAIN} (added when the daemon starts)`,
    match: () => 'yes',
    target: { kind: 'jump', chain: CHAIN },
  };
  const rules = [...input.rules];
  rules.splice(Math.max(0, Math.min(position - 1, rules.length)), 0, jump);
  out.set('INPUT', { ...input, rules });
  return out;
}

/** Parses the output of `iptables -S` (all chains of the filter table, or one chain). */
export function parseIptables(text: string): Map<string, Chain> {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const userChains = new Set<string>();
  const policies = new Map<string, 'accept' | 'drop'>();
  const rules = new Map<string, Rule[]>();
  const parsed = lines.map((line) => ({ line, words: tokenize(line) }));
  for (const { words } of parsed) {
    const [op, chain, policy] = words;
    if (chain === undefined) continue;
    if (op === '-N') userChains.add(chain);
    if (op === '-P') policies.set(chain, policy === 'ACCEPT' ? 'accept' : 'drop');
  }
  for (const { line, words } of parsed) {
    const [op, chain] = words;
    if (op !== '-A' || chain === undefined) continue;
    const list = rules.get(chain) ?? [];
    // The kernel screen drops only what cannot be a knock: never the packets doctor imagines.
    if (parseScreenRule(line) !== null) list.push({ text: line, match: () => 'no', target: { kind: 'drop' } });
    else list.push(parseRule(line, words, userChains));
    rules.set(chain, list);
  }
  const chains = new Map<string, Chain>();
  for (const name of new Set([...userChains, ...policies.keys(), ...rules.keys()])) {
    const policy = policies.get(name);
    const own = name === CHAIN ? [GRANT_RULE] : [];
    chains.set(name, { name, rules: [...own, ...(rules.get(name) ?? [])], ...(policy === undefined ? {} : { policy }) });
  }
  return chains;
}
