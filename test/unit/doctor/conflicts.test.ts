// knockspa's own rules modelled exactly, and what a granted knock really meets across tables
// (nft JSON captured from the real tool, test/unit/doctor/nft-fixtures.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conflictFix, grantConflicts } from '../../../src/doctor/conflicts.js';
import { formatFinding, fail } from '../../../src/doctor/finding.js';
import { parseIptables, withOwnChain } from '../../../src/doctor/iptables-rules.js';
import { parseNft } from '../../../src/doctor/nft-rules.js';
import { ownTableItems, withOwnTable } from '../../../src/doctor/own-table.js';
import { oneLine } from '../../../src/doctor/read-ruleset.js';
import { chainVerdict, combine, type Probe, type Verdict } from '../../../src/doctor/ruleset.js';
import type { PortSpec } from '../../../src/protocol/ports.js';
import { OWN_TABLE, OWN_TABLE_AND_IPTABLES_DROP } from './nft-fixtures.js';

const probe = (proto: 'tcp' | 'udp', port: number, granted = false, family: 4 | 6 = 4): Probe => ({
  family,
  proto,
  port,
  state: 'new',
  granted,
});
const PROTECTED: PortSpec[] = [
  { proto: 'tcp', port: 22 },
  { proto: 'udp', port: 53 },
];

/** The input-hook chains that see `family`, as read-ruleset.ts picks them. */
function sourcesFor(doc: unknown, family: 4 | 6): Array<{ chains: ReturnType<typeof parseNft>['chains']; base: string }> {
  const nft = parseNft(doc);
  return nft.bases.filter((b) => b.families.includes(family)).map((b) => ({ chains: nft.chains, base: b.key }));
}

function nftVerdict(doc: unknown, p: Probe): Verdict {
  const nft = parseNft(doc);
  return combine(nft.bases.filter((b) => b.families.includes(p.family)).map((b) => chainVerdict(nft.chains, b.key, p)));
}

test("nftables: knockspa's own table drops its protected ports for everyone and accepts a granted address", () => {
  assert.deepEqual(nftVerdict(OWN_TABLE, probe('tcp', 22)), { kind: 'drop', by: 'nft inet knockspa input rule handle 9' });
  assert.deepEqual(nftVerdict(OWN_TABLE, probe('udp', 53)), { kind: 'drop', by: 'nft inet knockspa input rule handle 9' });
  assert.deepEqual(nftVerdict(OWN_TABLE, probe('tcp', 22, false, 6)), { kind: 'drop', by: 'nft inet knockspa input rule handle 9' });
  assert.deepEqual(nftVerdict(OWN_TABLE, probe('tcp', 80)), { kind: 'accept', by: 'inet knockspa input policy ACCEPT' });
  assert.deepEqual(nftVerdict(OWN_TABLE, probe('udp', 22)), { kind: 'accept', by: 'inet knockspa input policy ACCEPT' });
  assert.deepEqual(nftVerdict(OWN_TABLE, probe('tcp', 22, true)), { kind: 'accept', by: 'nft inet knockspa input rule handle 7' });
  assert.deepEqual(nftVerdict(OWN_TABLE, probe('tcp', 22, true, 6)), { kind: 'accept', by: 'nft inet knockspa input rule handle 8' });
});

test('nftables: a source set that is not a grant set opens nothing for a granted probe', () => {
  const nft = parseNft(OWN_TABLE, () => false, ['inet other allow4']);
  assert.equal(chainVerdict(nft.chains, 'inet knockspa input', probe('tcp', 22, true)).kind, 'drop');
});

test('the own table as doctor imagines it before the daemon starts judges as the real one', () => {
  const imagined = withOwnTable({ nftables: [] }, PROTECTED);
  for (const p of [probe('tcp', 22), probe('udp', 53), probe('tcp', 80), probe('tcp', 22, true), probe('udp', 53, true, 6)])
    assert.equal(nftVerdict(imagined, p).kind, nftVerdict(OWN_TABLE, p).kind, JSON.stringify(p));
  assert.equal(withOwnTable(OWN_TABLE, PROTECTED), OWN_TABLE, 'a table that is there is judged as it is');
  assert.equal(ownTableItems([]).length, 10);
});

test('nftables backend plus an iptables DROP in another table: a granted knock is still dropped, naming the rule', () => {
  const conflicts = grantConflicts(sourcesFor(OWN_TABLE_AND_IPTABLES_DROP, 4), PROTECTED, 4);
  assert.deepEqual(conflicts, [{ family: 4, port: 'tcp/22', by: 'nft ip filter INPUT rule handle 2', kind: 'drop' }]);
  assert.deepEqual(grantConflicts(sourcesFor(OWN_TABLE_AND_IPTABLES_DROP, 6), PROTECTED, 6), [], 'ip filter sees no IPv6');
  assert.deepEqual(grantConflicts([{ chains: parseNft(OWN_TABLE).chains, base: 'inet knockspa input' }], PROTECTED, 4), []);
  assert.match(
    conflictFix(conflicts[0] as (typeof conflicts)[0], true),
    /^delete it \(nft delete rule ip filter INPUT handle 2\) or accept tcp\/22 before it; knockspa's own setup drops tcp\/22/,
  );
});

// The e2e base ruleset (README "Base ruleset") as iptables -S prints it.
const BASE = `-P INPUT ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p udp -m udp --dport 62201 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j DROP`;

const ADMIN_POLICY_DROP: unknown = {
  nftables: [
    { table: { family: 'inet', name: 'admin' } },
    { chain: { family: 'inet', table: 'admin', name: 'input', type: 'filter', hook: 'input', prio: 0, policy: 'drop' } },
    {
      rule: {
        family: 'inet',
        table: 'admin',
        chain: 'input',
        handle: 3,
        expr: [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, { accept: null }],
      },
    },
  ],
};

test('iptables backend: KNOCKSPA as the daemon sets it up lets a granted knock in; an nft chain with policy drop elsewhere does not', () => {
  const ipt = withOwnChain(parseIptables(BASE), 1);
  assert.deepEqual(chainVerdict(ipt, 'INPUT', probe('tcp', 22)), { kind: 'drop', by: '-A INPUT -p tcp -m tcp --dport 22 -j DROP' });
  assert.equal(chainVerdict(ipt, 'INPUT', probe('tcp', 22, true)).kind, 'accept');
  assert.equal(chainVerdict(parseIptables(BASE), 'INPUT', probe('tcp', 22, true)).kind, 'drop', 'no KNOCKSPA: no grant');
  const ports: PortSpec[] = [{ proto: 'tcp', port: 22 }];
  assert.deepEqual(grantConflicts([{ chains: ipt, base: 'INPUT' }], ports, 4), []);
  const conflicts = grantConflicts([{ chains: ipt, base: 'INPUT' }, ...sourcesFor(ADMIN_POLICY_DROP, 6)], ports, 6);
  assert.deepEqual(conflicts, [{ family: 6, port: 'tcp/22', by: 'inet admin input policy DROP', kind: 'drop' }]);
  assert.match(
    conflictFix(conflicts[0] as (typeof conflicts)[0], false),
    /^accept tcp\/22 in that chain, or set its policy to accept; keep/,
  );
});

test('iptables backend: a DROP before the jump to KNOCKSPA wins over the grant', () => {
  const rules = `-P INPUT ACCEPT\n-N KNOCKSPA\n-A INPUT -p tcp -m tcp --dport 22 -j DROP\n-A INPUT -j KNOCKSPA`;
  const conflicts = grantConflicts([{ chains: withOwnChain(parseIptables(rules), 1), base: 'INPUT' }], [{ proto: 'tcp', port: 22 }], 4);
  assert.deepEqual(conflicts, [{ family: 4, port: 'tcp/22', by: '-A INPUT -p tcp -m tcp --dport 22 -j DROP', kind: 'drop' }]);
  assert.match(
    conflictFix(conflicts[0] as (typeof conflicts)[0], false),
    /^delete it \(iptables -D INPUT -p tcp -m tcp --dport 22 -j DROP\)/,
  );
});

test("one finding is one line: nft's multi-line errors folded", () => {
  const nftError = 'netlink: Error: cache initialization failed: Operation not permitted\n  list ruleset\n  ^^^^^^^^^^^^\n';
  assert.equal(oneLine(nftError), 'netlink: Error: cache initialization failed: Operation not permitted list ruleset');
  assert.equal(formatFinding(fail(`nft: ${nftError}`, 'a\nb')).split('\n').length, 1);
});
