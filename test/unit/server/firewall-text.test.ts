// What the backends feed their tools and read back: nft scripts and listings, iptables-restore
// input and `iptables -S` parsing, the comment, and command templates.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { entryComment, parseComment } from '../../../src/server/firewall/comment.js';
import type { Entry } from '../../../src/server/firewall/firewall.js';
import { parseChain, restoreScript } from '../../../src/server/firewall/iptables.js';
import {
  changesScript,
  listedEntries,
  OWN_SETS,
  ownTableScript,
  parseListedSet,
  setFamily,
} from '../../../src/server/firewall/nft-script.js';
import { expandTemplate, parseTemplate, splitWords } from '../../../src/server/firewall/template.js';
import { formatLeft } from '../../../src/server/list-grants.js';
import { REPO_ROOT } from '../../support/knockspa.js';

const NOW = 1_800_000_000_000;
const ALICE: Entry = { user: 'alice', ip: '198.18.0.2', family: 4, proto: 'tcp', port: 22, deadlineMs: NOW + 30_000 };
const BOB6: Entry = { user: 'bob', ip: '2001:db8:4b::2', family: 6, proto: 'udp', port: 53, deadlineMs: NOW + 90_500 };

test('the comment carries the grant id (user@ip/proto/port) and the deadline (whole seconds, rounded up), and reads back', () => {
  assert.equal(entryComment(ALICE), 'knockspa alice@198.18.0.2/tcp/22 until 1800000030');
  assert.equal(entryComment({ ...BOB6, deadlineMs: NOW + 1 }), 'knockspa bob@2001:db8:4b::2/udp/53 until 1800000001');
  assert.deepEqual(parseComment('knockspa alice@198.18.0.2/tcp/22 until 1800000030', ALICE), { user: 'alice', deadlineMs: NOW + 30_000 });
  assert.deepEqual(
    parseComment('knockspa bob@2001:db8:4b:0::2/udp/53 until 1', BOB6),
    { user: 'bob', deadlineMs: 1000 },
    'addresses compared canonically',
  );
  for (const foreign of [
    'knockspa',
    'ssh from office',
    'knockspa Alice@198.18.0.2/tcp/22 until 1',
    'knockspa alice@198.18.0.2/tcp/22 until soon',
    'xknockspa alice@198.18.0.2/tcp/22 until 1',
  ])
    assert.equal(parseComment(foreign, ALICE), null, foreign);
  assert.equal(parseComment('knockspa alice@198.18.0.9/tcp/22 until 1', ALICE), null, 'a comment naming another rule is not ours');
  assert.equal(parseComment('knockspa alice@198.18.0.2/udp/22 until 1', ALICE), null);
});

test('nft: own table script declares sets, protected ports and the chain in one transaction', () => {
  const script = ownTableScript([
    { proto: 'tcp', port: 22 },
    { proto: 'udp', port: 53 },
  ]);
  assert.match(script, /^add table inet knockspa$/m);
  assert.match(script, /^add set inet knockspa allow4 \{ type ipv4_addr \. inet_proto \. inet_service; flags timeout; \}$/m);
  assert.match(script, /^add set inet knockspa allow6 \{ type ipv6_addr \. inet_proto \. inet_service; flags timeout; \}$/m);
  assert.match(script, /^flush set inet knockspa protected\nadd element inet knockspa protected \{ tcp \. 22, udp \. 53 \}$/m);
  assert.match(
    script,
    /^add chain inet knockspa input \{ type filter hook input priority filter - 10; policy accept; \}\nflush chain inet knockspa input$/m,
  );
  const rules = script.split('\n').filter((l) => l.startsWith('add rule'));
  assert.deepEqual(
    rules.map((r) => r.replace('add rule inet knockspa input ', '')),
    [
      'ct state established,related accept',
      'iif lo accept',
      'ip saddr . meta l4proto . th dport @allow4 accept',
      'ip6 saddr . meta l4proto . th dport @allow6 accept',
      'meta l4proto . th dport @protected drop',
    ],
  );
  assert.doesNotMatch(script, /delete|flush set inet knockspa allow/, 'live grants (the allow sets) are never flushed');
});

test('docs/operations.md shows the exact statements the daemon runs to set up its table', () => {
  const docs = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  assert.ok(docs.includes(ownTableScript([{ proto: 'tcp', port: 22 }])), 'paste ownTableScript([tcp/22]) into the nftables.conf example');
});

test('nft: a new element is an add with the remaining time as timeout; removals and refreshes never fail on a missing element', () => {
  const script = changesScript(
    [
      { set: OWN_SETS[4], change: { before: undefined, after: ALICE } },
      { set: OWN_SETS[6], change: { before: BOB6, after: undefined } },
      { set: OWN_SETS[4], change: { before: ALICE, after: { ...ALICE, deadlineMs: NOW + 60_000 } } },
    ],
    NOW,
  );
  assert.equal(
    script,
    'add element inet knockspa allow4 { 198.18.0.2 . tcp . 22 timeout 30000ms comment "knockspa alice@198.18.0.2/tcp/22 until 1800000030" }\n' +
      'add element inet knockspa allow6 { 2001:db8:4b::2 . udp . 53 }\n' +
      'delete element inet knockspa allow6 { 2001:db8:4b::2 . udp . 53 }\n' +
      'add element inet knockspa allow4 { 198.18.0.2 . tcp . 22 }\n' +
      'delete element inet knockspa allow4 { 198.18.0.2 . tcp . 22 }\n' +
      'add element inet knockspa allow4 { 198.18.0.2 . tcp . 22 timeout 60000ms comment "knockspa alice@198.18.0.2/tcp/22 until 1800000060" }\n',
  );
  assert.equal(changesScript([], NOW), '');
  const late = changesScript([{ set: OWN_SETS[4], change: { before: undefined, after: { ...ALICE, deadlineMs: NOW - 5 } } }], NOW);
  assert.match(late, /timeout 1000ms/, 'never a zero or negative timeout');
});

const LISTING = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6' } },
    {
      set: {
        family: 'inet',
        name: 'allow4',
        table: 'knockspa',
        type: ['ipv4_addr', 'inet_proto', 'inet_service'],
        flags: ['timeout'],
        elem: [
          {
            elem: {
              val: { concat: ['198.18.0.2', 'tcp', 22] },
              timeout: 30,
              expires: 25,
              comment: 'knockspa alice@198.18.0.2/tcp/22 until 1800000030',
            },
          },
          {
            elem: {
              val: { concat: ['198.18.0.5', 17, 53] },
              timeout: 60,
              expires: 59,
              comment: 'knockspa bob@198.18.0.5/udp/53 until 1800000060',
            },
          },
          {
            elem: {
              val: { concat: ['198.18.0.8', 'tcp', 22] },
              timeout: 60,
              expires: 59,
              comment: 'knockspa eve@198.18.0.1/tcp/22 until 1800000060',
            },
          },
          { elem: { val: { concat: ['198.18.0.6', 'tcp', 22] }, timeout: 60, expires: 59, comment: 'the admin' } },
          { concat: ['198.18.0.7', 'tcp', 22] },
        ],
      },
    },
  ],
});

test("nft: a listed set gives its type and knockspa's elements, with the kernel's time left", () => {
  const set = parseListedSet(LISTING);
  assert.ok(set !== null);
  assert.equal(setFamily(set), 4);
  assert.deepEqual(listedEntries(set, 4, NOW), [
    { ip: '198.18.0.2', family: 4, proto: 'tcp', port: 22, user: 'alice', deadlineMs: NOW + 25_000 },
    { ip: '198.18.0.5', family: 4, proto: 'udp', port: 53, user: 'bob', deadlineMs: NOW + 59_000 },
  ]);
  assert.equal(parseListedSet('not json'), null);
  assert.equal(parseListedSet('{"nftables": []}'), null);
});

test('nft: a set that does not fit is refused with the reason', () => {
  const fits = (type: string[], flags: string[]) => setFamily({ type, flags, elements: [] });
  assert.equal(fits(['ipv6_addr', 'inet_proto', 'inet_service'], ['timeout']), 6);
  assert.match(
    String(fits(['ipv4_addr', 'inet_service'], ['timeout'])),
    /type ipv4_addr \. inet_service; expected "ipv4_addr \. inet_proto \. inet_service"/,
  );
  assert.match(String(fits(['ipv4_addr', 'inet_proto', 'inet_service'], [])), /no "flags timeout"/);
});

test('iptables: one restore script per family, deletes of what was and appends of what must be', () => {
  const later = { ...ALICE, deadlineMs: NOW + 60_000 };
  assert.equal(
    restoreScript([
      { before: undefined, after: ALICE },
      { before: ALICE, after: later },
      { before: later, after: undefined },
    ]),
    '*filter\n' +
      '-A KNOCKSPA -s 198.18.0.2/32 -p tcp -m tcp --dport 22 -m comment --comment "knockspa alice@198.18.0.2/tcp/22 until 1800000030" -j ACCEPT\n' +
      '-D KNOCKSPA -s 198.18.0.2/32 -p tcp -m tcp --dport 22 -m comment --comment "knockspa alice@198.18.0.2/tcp/22 until 1800000030" -j ACCEPT\n' +
      '-A KNOCKSPA -s 198.18.0.2/32 -p tcp -m tcp --dport 22 -m comment --comment "knockspa alice@198.18.0.2/tcp/22 until 1800000060" -j ACCEPT\n' +
      '-D KNOCKSPA -s 198.18.0.2/32 -p tcp -m tcp --dport 22 -m comment --comment "knockspa alice@198.18.0.2/tcp/22 until 1800000060" -j ACCEPT\n' +
      'COMMIT\n',
  );
});

test("iptables: the chain listing gives knockspa's rules back, and nobody else's", () => {
  const listing = [
    '-N KNOCKSPA',
    '-A KNOCKSPA -s 198.18.0.2/32 -p tcp -m tcp --dport 22 -m comment --comment "knockspa alice@198.18.0.2/tcp/22 until 1800000030" -j ACCEPT',
    '-A KNOCKSPA -s 198.18.0.5/32 -p tcp -m tcp --dport 22 -m comment --comment "knockspa alice@198.18.0.2/tcp/22 until 1800000030" -j ACCEPT',
    '-A KNOCKSPA -s 198.18.0.3/32 -p tcp -m tcp --dport 22 -j ACCEPT',
    '-A KNOCKSPA -s 198.18.0.4/32 -p tcp -m tcp --dport 22 -m comment --comment "office" -j ACCEPT',
  ].join('\n');
  assert.deepEqual(parseChain(listing, 4), [ALICE]);
  const v6 =
    '-A KNOCKSPA -s 2001:db8:4b::2/128 -p udp -m udp --dport 53 -m comment --comment "knockspa bob@2001:db8:4b::2/udp/53 until 1800000091" -j ACCEPT\n';
  assert.deepEqual(parseChain(v6, 6), [{ ...BOB6, deadlineMs: NOW + 91_000 }]);
});

test('templates: quote-aware split, absolute program, known placeholders, filled word by word', () => {
  assert.deepEqual(splitWords(`  /a  b 'c d' "e 'f'" g"h i"j ''  `), ['/a', 'b', 'c d', "e 'f'", 'gh ij', '']);
  assert.equal(splitWords('/a "b'), 'an unterminated " quote');
  const t = parseTemplate(
    '/usr/sbin/iptables -I INPUT -s %IP% -p %PROTO% --dport %PORT% -m comment --comment "knock %USER% for %DURATION%s" -j ACCEPT',
  );
  assert.ok(typeof t !== 'string');
  // A value with spaces or shell syntax stays inside its word.
  assert.deepEqual(expandTemplate(t, { IP: '198.18.0.2', PROTO: 'tcp', PORT: '22', USER: 'alice; rm -rf /', DURATION: '30' }), [
    '/usr/sbin/iptables',
    '-I',
    'INPUT',
    '-s',
    '198.18.0.2',
    '-p',
    'tcp',
    '--dport',
    '22',
    '-m',
    'comment',
    '--comment',
    'knock alice; rm -rf / for 30s',
    '-j',
    'ACCEPT',
  ]);
  assert.match(String(parseTemplate('iptables -A')), /absolute path/);
  assert.match(String(parseTemplate('')), /a command/);
  assert.deepEqual(
    (parseTemplate('/bin/x %ip% 100%') as { words: string[] }).words,
    ['/bin/x', '%ip%', '100%'],
    'only %UPPER% is a placeholder',
  );
  assert.match(String(parseTemplate('/bin/x %HOST%')), /not %HOST%/);
});

test('time left reads like a clock', () => {
  assert.equal(formatLeft(12_000), '12s');
  assert.equal(formatLeft(11_001), '12s');
  assert.equal(formatLeft(245_000), '4m05s');
  assert.equal(formatLeft(3_725_000), '1h02m');
  assert.equal(formatLeft(-5), '0s');
});
