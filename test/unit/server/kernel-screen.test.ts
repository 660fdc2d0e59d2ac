// The kernel screen's text: the nft script, its removal, the counters and key id set read back,
// and pcap's capture filter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseKeyIdSet, parseScreenCounters, removeScreenScript, screenScript } from '../../../src/server/firewall/nft-screen.js';
import { captureFilter, kernelScreen } from '../../../src/server/firewall/screen.js';

const IDS = ['0a0b0c0d0e0f1011', '0102030405060708'];

test('kernelScreen: v1 size, magic and key id place; ids lower-case, sorted, once', () => {
  const s = kernelScreen(62201, [...IDS, '0102030405060708'.toUpperCase()], false);
  assert.equal(s.size, 146);
  assert.equal(s.magic, 0xcb);
  assert.equal(s.keyIdOffset, 2);
  assert.equal(s.keyIdSize, 8);
  assert.deepEqual(s.keyIds, ['0102030405060708', '0a0b0c0d0e0f1011']);
  assert.equal(s.fwknop, null);
  assert.deepEqual(kernelScreen(62201, [], true).fwknop, { min: 161, max: 640 });
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
      'add rule inet knockspa screen udp dport 62201 udp length 154 @th,80,64 != @key_ids counter name "screen_key_id" drop',
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
