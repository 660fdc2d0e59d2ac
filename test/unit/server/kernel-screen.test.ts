// The kernel screen's text: the nft script, its removal, the counters and key id set read back,
// and pcap's capture filter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseKeyIdSet, parseScreenCounters, removeScreenScript, screenScript } from '../../../src/server/firewall/nft-screen.js';
import { captureFilter, kernelScreen, keyIdTests, magicTests, udpLengths } from '../../../src/server/firewall/screen.js';
import {
  parseScreenCounters as parseIptablesCounters,
  parseScreenRule,
  restoreLine,
  screenRules,
  screenTag,
} from '../../../src/server/firewall/iptables-screen.js';

const IDS = ['0a0b0c0d0e0f1011', '0102030405060708'];

test('kernelScreen: v1 size, magic and key id place; ids lower-case, sorted, once', () => {
  const s = kernelScreen(62201, [...IDS, '0102030405060708'.toUpperCase()], false);
  assert.equal(s.size, 146);
  assert.equal(s.magic, 0xcb);
  assert.equal(s.keyIdOffset, 2);
  assert.equal(s.keyIdSize, 8);
  assert.deepEqual(s.keyIds, ['0102030405060708', '0a0b0c0d0e0f1011']);
  assert.deepEqual(s.shapes, [{ format: 'knockspa', min: 146, max: 146, magic: 0xcb, keyed: true }]);
  assert.deepEqual(kernelScreen(62201, [], true).shapes[1], { format: 'fwknop', min: 161, max: 640, magic: null, keyed: false });
});

test('screenScript: length, magic and key id rules on the port, one named counter each', () => {
  const script = screenScript(kernelScreen(62201, IDS, false));
  const lines = script.trim().split('\n');
  assert.ok(lines.includes('add counter inet knockspa screen_length'));
  assert.ok(lines.includes('add set inet knockspa key_ids { typeof @th,80,64; }'));
  assert.ok(lines.includes('flush set inet knockspa key_ids'), 'a reload replaces the ids');
  assert.ok(lines.includes('add element inet knockspa key_ids { 0x0102030405060708, 0x0a0b0c0d0e0f1011 }'));
  assert.ok(lines.includes('add chain inet knockspa screen { type filter hook input priority filter - 20; policy accept; }'));
  assert.deepEqual(
    lines.filter((l) => l.startsWith('add rule')),
    [
      'add rule inet knockspa screen udp dport 62201 udp length != 154 counter name "screen_length" drop',
      'add rule inet knockspa screen udp dport 62201 udp length 154 @th,64,8 != 0xcb counter name "screen_magic" drop',
      'add rule inet knockspa screen udp dport 62201 udp length 154 @th,64,8 0xcb @th,80,64 != @key_ids counter name "screen_key_id" drop',
    ],
  );
});

test('screenScript: fwknop users widen the lengths; no keys leaves the set empty (every knockspa length dropped)', () => {
  const fw = screenScript(kernelScreen(1000, [], true));
  assert.match(fw, /udp dport 1000 udp length != \{ 154, 169-648 \} counter name "screen_length" drop/);
  assert.doesNotMatch(fw, /add element/);
});

test('removeScreenScript: each part added before it is deleted (no error if absent); the table stays', () => {
  const lines = removeScreenScript().trim().split('\n');
  for (const what of ['chain inet knockspa screen', 'counter inet knockspa screen_magic']) {
    const add = lines.findIndex((l) => l.startsWith(`add ${what}`));
    assert.ok(add >= 0 && lines[add + 1] === `delete ${what}`, what);
  }
  assert.ok(lines.some((l) => l.startsWith('delete set inet knockspa key_ids')));
  assert.ok(!lines.some((l) => l.startsWith('delete table')));
});

test('parseScreenCounters: packets per reason; null if one is missing or the output is not JSON', () => {
  const counter = (name: string, packets: number): unknown => ({ counter: { family: 'inet', name, table: 'knockspa', packets, bytes: 0 } });
  const doc = (items: unknown[]): string => JSON.stringify({ nftables: [{ metainfo: {} }, ...items] });
  assert.deepEqual(parseScreenCounters(doc([counter('screen_length', 5), counter('screen_magic', 7), counter('screen_key_id', 0)])), {
    length: 5,
    magic: 7,
    key_id: 0,
  });
  assert.equal(parseScreenCounters(doc([counter('screen_length', 5), counter('screen_magic', 7)])), null);
  assert.equal(parseScreenCounters('nope'), null);
});

test('parseKeyIdSet: hex from nft list set, leading zeros back (nft drops them)', () => {
  const text = `table inet knockspa {\n\tset key_ids {\n\t\ttypeof @th,80,64\n\t\telements = { 0x102030405060708,\n\t\t\t     0xa0b0c0d0e0f1011 }\n\t}\n}\n`;
  assert.deepEqual(parseKeyIdSet(text, 8), IDS.slice().sort());
  assert.deepEqual(parseKeyIdSet('table inet knockspa {\n\tset key_ids {\n\t\ttypeof @th,80,64\n\t}\n}\n', 8), []);
});

test('captureFilter: port only when off; with the screen length and magic for IPv4 and IPv6 (fixed header, UDP next)', () => {
  assert.equal(captureFilter(62201, null), 'udp dst port 62201');
  assert.equal(
    captureFilter(62201, kernelScreen(62201, IDS, false)),
    '(ip and udp dst port 62201 and (udp[4:2] = 154 and udp[8] = 0xcb)) or ' +
      '(ip6 and udp dst port 62201 and ip6[6] = 17 and (ip6[44:2] = 154 and ip6[48] = 0xcb))',
  );
  assert.match(
    captureFilter(62201, kernelScreen(62201, [], true)),
    /\(\(udp\[4:2\] = 154 and udp\[8\] = 0xcb\) or \(udp\[4:2\] >= 169 and udp\[4:2\] <= 648\)\)/,
  );
});

test('one list of shapes: a format with its own length and magic gets its length and magic test; one overlapping fwknop gets none', () => {
  const ssh = { format: 'ssh', min: 300, max: 300, magic: 0xcc, keyed: true };
  const plain = kernelScreen(62201, IDS, false);
  const withSsh = { ...plain, shapes: [...plain.shapes, ssh] };
  assert.deepEqual(udpLengths(withSsh), [
    { min: 154, max: 154 },
    { min: 308, max: 308 },
  ]);
  assert.deepEqual(magicTests(withSsh), [
    { lengths: { min: 154, max: 154 }, magics: [0xcb] },
    { lengths: { min: 308, max: 308 }, magics: [0xcc] },
  ]);
  const script = screenScript(withSsh);
  assert.match(script, /udp length != \{ 154, 308 \} counter name "screen_length" drop/);
  assert.match(script, /udp length 308 @th,64,8 != 0xcc counter name "screen_magic" drop/);
  const fw = kernelScreen(62201, IDS, true);
  const fwSsh = { ...fw, shapes: [...fw.shapes, ssh] };
  assert.deepEqual(udpLengths(fwSsh), [
    { min: 154, max: 154 },
    { min: 169, max: 648 },
  ]);
  assert.deepEqual(magicTests(fwSsh), [{ lengths: { min: 154, max: 154 }, magics: [0xcb] }], 'fwknop may have length 300: no magic test');
  assert.deepEqual(
    keyIdTests(fwSsh),
    [
      { lengths: { min: 154, max: 154 }, magic: 0xcb },
      { lengths: { min: 308, max: 308 }, magic: 0xcc },
    ],
    'the key id test matches the magic too, so inside fwknop lengths it still applies',
  );
  assert.match(screenScript(fwSsh), /udp length 308 @th,64,8 0xcc @th,80,64 != @key_ids counter name "screen_key_id" drop/);
  assert.match(captureFilter(62201, withSsh), /\(\(udp\[4:2\] = 154 and udp\[8\] = 0xcb\) or \(udp\[4:2\] = 308 and udp\[8\] = 0xcc\)\)/);
});

test('iptables screen: u32 length and first-byte rules from the same shapes, IPv6 only with UDP right after the fixed header', () => {
  const s = kernelScreen(62201, IDS, false);
  const tag = screenTag(s);
  assert.equal(tag, screenTag(kernelScreen(62201, ['ffffffffffffffff'], false)), 'key ids do not change the iptables rules');
  assert.notEqual(tag, screenTag(kernelScreen(62201, IDS, true)));
  assert.deepEqual(
    screenRules(s, 4).map((w) => w.join(' ')),
    [
      `-p udp -m udp --dport 62201 -m u32 ! --u32 0>>22&0x3C@4>>16=154 -m comment --comment knockspa screen length ${tag} -j DROP`,
      `-p udp -m udp --dport 62201 -m u32 --u32 0>>22&0x3C@4>>16=154 -m u32 ! --u32 0>>22&0x3C@8>>24=0xcb -m comment --comment knockspa screen magic ${tag} -j DROP`,
    ],
  );
  assert.match(screenRules(kernelScreen(62201, [], true), 4)[0]?.join(' ') ?? '', /--u32 0>>22&0x3C@4>>16=154,169:648 /);
  assert.deepEqual(screenRules(s, 6)[0]?.slice(6, 10), ['-m', 'u32', '--u32', '4>>8&0xFF=17']);
  assert.match(screenRules(s, 6)[1]?.join(' ') ?? '', /--u32 44>>16=154 -m u32 ! --u32 48>>24=0xcb /);
  assert.equal(
    restoreLine('-I', 'KNOCKSPA', ['1', ...(screenRules(s, 4)[0] as string[])]),
    `-I KNOCKSPA 1 -p udp -m udp --dport 62201 -m u32 ! --u32 "0>>22&0x3C@4>>16=154" -m comment --comment "knockspa screen length ${tag}" -j DROP`,
  );
});

test('iptables screen: rules found by their comment in -S listings, counters summed over both families', () => {
  const v4 = [
    '-N KNOCKSPA',
    '-A KNOCKSPA -p udp -m udp --dport 62201 -m u32 ! --u32 "0x0>>0x16&0x3c@0x4>>0x10=0x9a" -m comment --comment "knockspa screen length abc123" -c 7 900 -j DROP',
    '-A KNOCKSPA -p udp -m udp --dport 62201 -m u32 --u32 "0x0>>0x16&0x3c@0x4>>0x10=0x9a" -m u32 ! --u32 "0x0>>0x16&0x3c@0x8>>0x18=0xcb" -m comment --comment "knockspa screen magic abc123" -c 3 400 -j DROP',
    '-A KNOCKSPA -s 192.0.2.7/32 -p tcp -m tcp --dport 22 -m comment --comment "knockspa alice@1700000000" -c 5 300 -j ACCEPT',
  ].join('\n');
  const v6 =
    '-N KNOCKSPA\n-A KNOCKSPA -p udp -m udp --dport 62201 -m u32 --u32 "0x4>>0x8&0xff=0x11" -m u32 ! --u32 "0x2c>>0x10=0x9a" -m comment --comment "knockspa screen length abc123" -c 2 100 -j DROP\n';
  assert.deepEqual(parseIptablesCounters([v4, v6]), { length: 9, magic: 3, key_id: 0 });
  assert.equal(parseIptablesCounters(['-N KNOCKSPA\n', '']), null);
  const rule = parseScreenRule(v4.split('\n')[1] as string);
  assert.equal(rule?.reason, 'length');
  assert.equal(rule?.tag, 'abc123');
  assert.deepEqual(rule?.words.slice(-6), ['-m', 'comment', '--comment', 'knockspa screen length abc123', '-j', 'DROP'], '-c dropped');
  assert.equal(parseScreenRule(v4.split('\n')[3] as string), null, 'a grant is not the screen');
});
