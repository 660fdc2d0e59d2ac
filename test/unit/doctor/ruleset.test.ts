// The doctor's firewall evaluator: iptables -S and nft -j output (captured from the real tools) -> does a port get in for everyone?
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIptables, tokenize } from '../../../src/doctor/iptables-rules.js';
import { parseNft } from '../../../src/doctor/nft-rules.js';
import { chainVerdict, combine, portIn, type Probe, type Verdict } from '../../../src/doctor/ruleset.js';

const tcp = (port: number, state: Probe['state'] = 'new'): Probe => ({ family: 4, proto: 'tcp', port, state });
const udp = (port: number): Probe => ({ family: 4, proto: 'udp', port, state: 'new' });

function ipt(rules: string, probe: Probe): Verdict {
  return chainVerdict(parseIptables(rules), 'INPUT', probe);
}

test('tokenize keeps quoted comments whole', () => {
  assert.deepEqual(tokenize('-A INPUT -m comment --comment "knockspa grant \\"7\\"" -j ACCEPT'), [
    '-A',
    'INPUT',
    '-m',
    'comment',
    '--comment',
    'knockspa grant "7"',
    '-j',
    'ACCEPT',
  ]);
});

test('portIn: single ports and ranges', () => {
  assert.ok(portIn('22', 22));
  assert.ok(!portIn('22', 23));
  assert.ok(portIn('1000:2000', 1500));
  assert.ok(!portIn('1000:2000', 2001));
  assert.ok(portIn(':1024', 22));
  assert.ok(portIn('1024:', 65535));
});

// What the e2e base ruleset looks like (TestNet.baseRules), plus knockspa's own grant for one address.
const BASE = `-P INPUT ACCEPT
-A INPUT -s 198.18.0.2/32 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p udp -m udp --dport 62201 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j DROP`;

test('iptables: the base ruleset drops the port for new connections, keeps established ones, lets knocks in', () => {
  assert.deepEqual(
    ipt(BASE, tcp(22)),
    { kind: 'drop', by: '-A INPUT -p tcp -m tcp --dport 22 -j DROP' },
    'a grant for one address is not "open to all"',
  );
  assert.deepEqual(ipt(BASE, tcp(22, 'established')), {
    kind: 'accept',
    by: '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  });
  assert.deepEqual(ipt(BASE, udp(62201)), { kind: 'accept', by: '-A INPUT -p udp -m udp --dport 62201 -j ACCEPT' });
  assert.deepEqual(ipt(BASE, tcp(80)), { kind: 'accept', by: 'INPUT policy ACCEPT' });
  assert.deepEqual(ipt(BASE, udp(22)), { kind: 'accept', by: 'INPUT policy ACCEPT' }, 'a tcp rule says nothing about udp');
});

test('iptables: an accept for everyone before the drop opens the port; ranges, multiport and policy DROP count', () => {
  assert.equal(
    ipt(`-P INPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j DROP`, tcp(22)).kind,
    'accept',
  );
  assert.equal(
    ipt(
      `-P INPUT ACCEPT\n-A INPUT -p tcp -m multiport --dports 80,443,1000:2000 -m comment --comment "web stuff" -j ACCEPT\n-A INPUT -j DROP`,
      tcp(1500),
    ).kind,
    'accept',
  );
  assert.equal(ipt(`-P INPUT ACCEPT\n-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT\n-A INPUT -j DROP`, tcp(22)).kind, 'drop');
  assert.deepEqual(ipt(`-P INPUT DROP\n-A INPUT -i lo -j ACCEPT`, tcp(22)), { kind: 'drop', by: 'INPUT policy DROP' });
  assert.equal(ipt(`-P INPUT ACCEPT\n-A INPUT -p tcp -j REJECT --reject-with tcp-reset`, tcp(22)).kind, 'drop');
  assert.equal(ipt(`-P INPUT ACCEPT\n-A INPUT -p all -j ACCEPT\n-A INPUT -j DROP`, tcp(22)).kind, 'accept');
  assert.equal(
    ipt(`-P INPUT ACCEPT\n-A INPUT ! -s 10.0.0.0/8 -p tcp --dport 22 -j ACCEPT\n-A INPUT -j DROP`, tcp(22)).kind,
    'accept',
    'everyone but one network is everyone',
  );
  assert.equal(ipt(`-P INPUT ACCEPT\n-A INPUT -p tcp --syn -j DROP`, tcp(22)).kind, 'drop');
  assert.equal(ipt(`-P INPUT ACCEPT\n-A INPUT -p tcp --syn -j DROP`, tcp(22, 'established')).kind, 'accept');
  assert.equal(ipt(`-P INPUT ACCEPT\n-A INPUT -m state --state NEW -p tcp --dport 22 -j DROP`, tcp(22)).kind, 'drop');
});

test('iptables: user chains are followed (jump, RETURN, goto); LOG goes on', () => {
  const rules = `-P INPUT ACCEPT
-N GUARD
-N LOGDROP
-A INPUT -j GUARD
-A INPUT -p udp --dport 53 -j ACCEPT
-A GUARD -p udp -m udp --dport 53 -j RETURN
-A GUARD -p tcp -m tcp --dport 22 -j LOGDROP
-A LOGDROP -j LOG --log-prefix "dropped: "
-A LOGDROP -j DROP`;
  assert.deepEqual(ipt(rules, tcp(22)), { kind: 'drop', by: '-A LOGDROP -j DROP' });
  assert.deepEqual(ipt(rules, udp(53)), { kind: 'accept', by: '-A INPUT -p udp --dport 53 -j ACCEPT' });
  assert.deepEqual(ipt(rules, tcp(80)), { kind: 'accept', by: 'INPUT policy ACCEPT' });
  assert.equal(
    ipt(`-P INPUT DROP\n-N X\n-A INPUT -g X\n-A INPUT -j ACCEPT\n-A X -j RETURN`, tcp(22)).kind,
    'drop',
    'a RETURN from a goto chain returns from INPUT: policy',
  );
});

test('iptables: matches it does not model make the answer unknown, naming the rule', () => {
  const recent = '-A INPUT -p tcp -m tcp --dport 22 -m recent --rcheck --seconds 30 --name knock -j ACCEPT';
  assert.deepEqual(ipt(`-P INPUT ACCEPT\n${recent}\n-A INPUT -p tcp --dport 22 -j DROP`, tcp(22)), { kind: 'unknown', by: recent });
  assert.deepEqual(ipt(`-P INPUT ACCEPT\n-A INPUT -i eth0 -p tcp --dport 22 -j DROP`, tcp(22)), {
    kind: 'unknown',
    by: '-A INPUT -i eth0 -p tcp --dport 22 -j DROP',
  });
  assert.equal(ipt(`-P INPUT ACCEPT\n-A INPUT -i lo -j DROP`, tcp(22)).kind, 'accept', 'loopback rules are not about the network');
  assert.equal(ipt(`-P INPUT ACCEPT\n-A INPUT -p tcp --dport 22 -j NFQUEUE --queue-num 1`, tcp(22)).kind, 'unknown');
});

// `nft -j list ruleset` from a namespace with iptables-nft rules (table ip filter) and a native table.
const NFT = {
  nftables: [
    { metainfo: { version: '1.0.6', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'filter', handle: 1 } },
    { chain: { family: 'ip', table: 'filter', name: 'INPUT', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'accept' } },
    {
      rule: {
        family: 'ip',
        table: 'filter',
        chain: 'INPUT',
        handle: 5,
        expr: [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 443 } }, { accept: null }],
      },
    },
    { table: { family: 'inet', name: 'mine', handle: 2 } },
    {
      set: {
        family: 'inet',
        name: 'allow',
        table: 'mine',
        type: ['ipv4_addr', 'inet_proto', 'inet_service'],
        handle: 8,
        flags: ['timeout'],
      },
    },
    { chain: { family: 'inet', table: 'mine', name: 'input', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'accept' } },
    { chain: { family: 'inet', table: 'mine', name: 'other', handle: 12 } },
    {
      rule: {
        family: 'inet',
        table: 'mine',
        chain: 'input',
        handle: 2,
        expr: [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, { accept: null }],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'mine',
        chain: 'input',
        handle: 3,
        expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'lo' } }, { accept: null }],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'mine',
        chain: 'input',
        handle: 9,
        expr: [
          {
            match: {
              op: '==',
              left: {
                concat: [
                  { payload: { protocol: 'ip', field: 'saddr' } },
                  { meta: { key: 'l4proto' } },
                  { payload: { protocol: 'th', field: 'dport' } },
                ],
              },
              right: '@allow',
            },
          },
          { accept: null },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'mine',
        chain: 'input',
        handle: 6,
        expr: [
          { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '10.0.0.1' } },
          { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 22 } },
          { accept: null },
        ],
      },
    },
    { rule: { family: 'inet', table: 'mine', chain: 'input', handle: 13, expr: [{ jump: { target: 'other' } }] } },
    {
      rule: {
        family: 'inet',
        table: 'mine',
        chain: 'input',
        handle: 5,
        expr: [
          {
            match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: { set: [22, 80, { range: [1000, 2000] }] } },
          },
          { counter: { packets: 0, bytes: 0 } },
          { drop: null },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'mine',
        chain: 'input',
        handle: 7,
        expr: [
          { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'udp' } },
          { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 53 } },
          { accept: null },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'mine',
        chain: 'input',
        handle: 10,
        expr: [{ match: { op: '!=', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 22 } }, { accept: null }],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'mine',
        chain: 'other',
        handle: 14,
        expr: [{ match: { op: '==', left: { payload: { protocol: 'th', field: 'dport' } }, right: 8080 } }, { drop: null }],
      },
    },
  ],
};

test('nft: base chains on the input hook, per family; sets, ranges, != and jumps', () => {
  const all = parseNft(NFT);
  assert.deepEqual(all.bases, [
    { key: 'ip filter INPUT', families: [4] },
    { key: 'inet mine input', families: [4, 6] },
  ]);
  const nft = parseNft(NFT, (family, table) => table === 'filter' && family === 'ip');
  assert.deepEqual(nft.bases, [{ key: 'inet mine input', families: [4, 6] }], "iptables-nft's table is left to iptables -S");
  const v = (probe: Probe): Verdict => chainVerdict(nft.chains, 'inet mine input', probe);
  assert.deepEqual(
    v(tcp(22)),
    { kind: 'drop', by: 'nft inet mine input rule handle 5' },
    'the @allow set and the 10.0.0.1 rule are per source',
  );
  assert.equal(v(tcp(1500)).kind, 'drop', 'range in a set');
  assert.equal(v(tcp(22, 'established')).kind, 'accept');
  assert.deepEqual(v(udp(53)), { kind: 'accept', by: 'nft inet mine input rule handle 7' });
  assert.deepEqual(v(tcp(8080)), { kind: 'drop', by: 'nft inet mine other rule handle 14' }, 'followed the jump');
  assert.deepEqual(v(tcp(23)), { kind: 'accept', by: 'nft inet mine input rule handle 10' }, '!= 22');
  assert.equal(v({ ...tcp(22), family: 6 }).kind, 'drop');
});

test('combine: any base chain that drops protects; all must accept for the port to be open', () => {
  const a: Verdict = { kind: 'accept', by: 'a' };
  const d: Verdict = { kind: 'drop', by: 'd' };
  const u: Verdict = { kind: 'unknown', by: 'u' };
  assert.equal(combine([a, d]), d);
  assert.equal(combine([u, d]), d);
  assert.equal(combine([a, u]), u);
  assert.equal(combine([a, a]), a);
  assert.equal(combine([]).kind, 'accept');
});
