/**
 * frame.ts: every supported link type x IPv4/IPv6 (VLAN tags dropped), the rejection cases, truncation
 * at every length, and fast-check fuzzing (must never throw).
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as fc from 'fast-check';
import {
  DLT_EN10MB,
  DLT_LINUX_SLL,
  DLT_LINUX_SLL2,
  DLT_NULL,
  DLT_RAW,
  LINKTYPE_RAW,
  isSupportedLinkType,
  parseFrame,
} from '../../../src/server/listen/frame.js';
import { DPORT, ETHERTYPE_IPV4, ETHERTYPE_IPV6, PAYLOAD, SPORT, ethernet, ipv4, ipv6, loopback, raw, sll, sll2, udp } from './frames.js';

const V4 = '192.0.2.1';
const V6 = '2001:db8::1';

interface Case {
  name: string;
  linkType: number;
  frame: Uint8Array;
  source: string;
}

const cases: Case[] = [];
/** Tagged frames: the kernel hands them to the VLAN's interface (or drops them), so does parseFrame. */
const tagged: Case[] = [];
for (const [family, type, packet, source] of [
  ['IPv4', ETHERTYPE_IPV4, ipv4(), V4],
  ['IPv6', ETHERTYPE_IPV6, ipv6(), V6],
] as const) {
  const p = [...packet];
  cases.push(
    { name: `Ethernet ${family}`, linkType: DLT_EN10MB, frame: ethernet(type, p), source },
    { name: `Linux SLL ${family}`, linkType: DLT_LINUX_SLL, frame: sll(type, p), source },
    { name: `Linux SLL2 ${family}`, linkType: DLT_LINUX_SLL2, frame: sll2(type, p), source },
    { name: `raw (12) ${family}`, linkType: DLT_RAW, frame: raw(p), source },
    { name: `raw (101) ${family}`, linkType: LINKTYPE_RAW, frame: raw(p), source },
  );
  tagged.push(
    { name: `Ethernet 802.1Q ${family}`, linkType: DLT_EN10MB, frame: ethernet(type, p, [0x8100]), source },
    { name: `Ethernet 802.1ad ${family}`, linkType: DLT_EN10MB, frame: ethernet(type, p, [0x88a8]), source },
    { name: `Ethernet QinQ ${family}`, linkType: DLT_EN10MB, frame: ethernet(type, p, [0x88a8, 0x8100]), source },
    { name: `Ethernet double 802.1Q ${family}`, linkType: DLT_EN10MB, frame: ethernet(type, p, [0x8100, 0x8100]), source },
    { name: `Linux SLL 802.1Q ${family}`, linkType: DLT_LINUX_SLL, frame: sll(type, p, [0x8100]), source },
    { name: `Linux SLL QinQ ${family}`, linkType: DLT_LINUX_SLL, frame: sll(type, p, [0x88a8, 0x8100]), source },
  );
}
cases.push(
  { name: 'loopback AF_INET little-endian', linkType: DLT_NULL, frame: loopback(2, ipv4()), source: V4 },
  { name: 'loopback AF_INET big-endian', linkType: DLT_NULL, frame: loopback(2, ipv4(), false), source: V4 },
  ...[10, 24, 28, 30].map((af) => ({ name: `loopback AF_INET6=${af}`, linkType: DLT_NULL, frame: loopback(af, ipv6()), source: V6 })),
  { name: 'loopback AF_INET6 big-endian', linkType: DLT_NULL, frame: loopback(30, ipv6(), false), source: V6 },
);

function assertDatagram(linkType: number, frame: Uint8Array, source: string, length?: number): void {
  const d = parseFrame(linkType, frame, length);
  assert.ok(d !== null, 'expected a datagram');
  assert.equal(d.source, source);
  assert.equal(d.sourcePort, SPORT);
  assert.equal(d.destPort, DPORT);
  assert.deepEqual(d.payload, PAYLOAD);
  assert.equal(d.payload.buffer, frame.buffer, 'payload must be a view, not a copy');
}

describe('parseFrame accepts', () => {
  for (const c of cases) {
    test(c.name, () => assertDatagram(c.linkType, c.frame, c.source));
  }

  test('VLAN-tagged frames (one or two tags) are dropped', () => {
    assert.ok(tagged.length >= 8);
    for (const c of tagged) assert.equal(parseFrame(c.linkType, c.frame), null, c.name);
  });

  test('a frame inside a larger reused buffer, using only the captured length', () => {
    for (const c of cases) {
      const buffer = new Uint8Array(512).fill(0xee);
      buffer.set(c.frame);
      assertDatagram(c.linkType, buffer, c.source, c.frame.length);
    }
  });

  test('Ethernet padding after the IP datagram (short frames are padded to 60 bytes)', () => {
    const tiny = ipv4({ body: udp({ payload: new Uint8Array(2) }) }); // 30 bytes of IP
    const frame = new Uint8Array(60);
    frame.set(ethernet(ETHERTYPE_IPV4, tiny));
    const d = parseFrame(DLT_EN10MB, frame);
    assert.equal(d?.payload.length, 2);
  });

  test('IPv4 with options (IHL 6 and 15)', () => {
    assertDatagram(DLT_RAW, raw(ipv4({ ihl: 6 })), V4);
    assertDatagram(DLT_RAW, raw(ipv4({ ihl: 15 })), V4);
  });

  test('IPv4 without DF, and with the reserved flag clear', () => {
    assertDatagram(DLT_RAW, raw(ipv4({ fragment: 0 })), V4);
  });

  test('UDP length shorter than the IP payload: trimmed, as Linux does', () => {
    const body = [...udp(), 0, 0, 0, 0];
    const d = parseFrame(DLT_RAW, raw(ipv4({ body })));
    assert.deepEqual(d?.payload, PAYLOAD);
  });

  test('empty UDP payload', () => {
    const d = parseFrame(DLT_RAW, raw(ipv4({ body: udp({ payload: new Uint8Array(0) }) })));
    assert.equal(d?.payload.length, 0);
  });

  test('canonical IPv6 source text (RFC 5952)', () => {
    const src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    assert.equal(parseFrame(DLT_RAW, raw(ipv6({ src })))?.source, '2001:db8::1:0:0:1');
    const loop = [...new Array<number>(15).fill(0), 1];
    assert.equal(parseFrame(DLT_RAW, raw(ipv6({ src: loop })))?.source, '::1');
  });
});

describe('parseFrame rejects', () => {
  const rejects: Array<[string, number, Uint8Array]> = [
    ['TCP over IPv4', DLT_RAW, raw(ipv4({ protocol: 6 }))],
    ['ICMP', DLT_RAW, raw(ipv4({ protocol: 1 }))],
    ['TCP over IPv6', DLT_RAW, raw(ipv6({ nextHeader: 6 }))],
    ['ICMPv6', DLT_RAW, raw(ipv6({ nextHeader: 58 }))],
    ['IPv4 first fragment (MF set)', DLT_RAW, raw(ipv4({ fragment: 0x2000 }))],
    ['IPv4 later fragment (offset != 0)', DLT_RAW, raw(ipv4({ fragment: 0x0001 }))],
    ['IPv4 last fragment (offset != 0, MF clear)', DLT_RAW, raw(ipv4({ fragment: 0x4010 }))],
    ['IPv4 IHL 4', DLT_RAW, raw(ipv4({ ihl: 4 }))],
    ['IPv4 IHL 0', DLT_RAW, raw(ipv4({ ihl: 0 }))],
    ['IPv4 total length past the capture', DLT_RAW, raw(ipv4({ totalLength: 20 + 8 + PAYLOAD.length + 1 }))],
    ['IPv4 total length below the header', DLT_RAW, raw(ipv4({ totalLength: 19 }))],
    ['IPv4 total length cutting the UDP header', DLT_RAW, raw(ipv4({ totalLength: 27 }))],
    ['IPv4 total length below IHL', DLT_RAW, raw(ipv4({ ihl: 15, totalLength: 40 }))],
    ['UDP length below 8', DLT_RAW, raw(ipv4({ body: udp({ length: 7 }) }))],
    ['UDP length 0 (IPv6 jumbogram style)', DLT_RAW, raw(ipv6({ body: udp({ length: 0 }) }))],
    ['UDP length past the IPv4 payload', DLT_RAW, raw(ipv4({ body: udp({ length: 8 + PAYLOAD.length + 1 }) }))],
    ['UDP length past the IPv6 payload', DLT_RAW, raw(ipv6({ body: udp({ length: 8 + PAYLOAD.length + 1 }) }))],
    ['IPv6 payload length past the capture', DLT_RAW, raw(ipv6({ payloadLength: 8 + PAYLOAD.length + 1 }))],
    ['IPv6 payload length cutting the UDP header', DLT_RAW, raw(ipv6({ payloadLength: 7 }))],
    ['IPv6 zero UDP checksum (RFC 8200 §8.1)', DLT_RAW, raw(ipv6({ body: udp({ checksum: 0 }) }))],
    ['IPv6 Hop-by-Hop header', DLT_RAW, raw(ipv6({ nextHeader: 0, body: [17, 0, 1, 4, 0, 0, 0, 0, ...udp()] }))],
    ['IPv6 Routing header', DLT_RAW, raw(ipv6({ nextHeader: 43, body: [17, 0, 0, 0, 0, 0, 0, 0, ...udp()] }))],
    ['IPv6 Fragment header', DLT_RAW, raw(ipv6({ nextHeader: 44, body: [17, 0, 0, 0, 0, 0, 0, 1, ...udp()] }))],
    ['IPv6 Destination Options header', DLT_RAW, raw(ipv6({ nextHeader: 60, body: [17, 0, 1, 4, 0, 0, 0, 0, ...udp()] }))],
    ['IPv6 with an IPv4-mapped source', DLT_RAW, raw(ipv6({ src: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1] }))],
    ['raw IP version 5', DLT_RAW, raw(ipv4({ version: 5 }))],
    ['EtherType IPv4 carrying IPv6', DLT_EN10MB, ethernet(ETHERTYPE_IPV4, ipv6())],
    ['EtherType IPv6 carrying IPv4', DLT_EN10MB, ethernet(ETHERTYPE_IPV6, ipv4())],
    ['ARP', DLT_EN10MB, ethernet(0x0806, ipv4())],
    ['802.3 length field instead of an EtherType', DLT_EN10MB, ethernet(0x0040, ipv4())],
    ['three VLAN tags', DLT_EN10MB, ethernet(ETHERTYPE_IPV4, ipv4(), [0x88a8, 0x8100, 0x8100])],
    ['SLL with an unknown protocol', DLT_LINUX_SLL, sll(0x0003, ipv4())],
    ['loopback with an unknown family', DLT_NULL, loopback(7, ipv4())],
    ['loopback AF_INET carrying IPv6', DLT_NULL, loopback(2, ipv6())],
    ['loopback with a garbled family', DLT_NULL, Uint8Array.from([2, 0, 0, 2, ...ipv4()])],
    ['an unsupported link type (802.11 radiotap)', 127, raw(ipv4())],
    ['an empty frame', DLT_EN10MB, new Uint8Array(0)],
  ];
  for (const [name, linkType, frame] of rejects) {
    test(name, () => assert.equal(parseFrame(linkType, frame), null));
  }

  test('every truncation of every valid frame, as a short array and as a short captured length', () => {
    for (const c of cases) {
      for (let n = 0; n < c.frame.length; n++) {
        assert.equal(parseFrame(c.linkType, c.frame.subarray(0, n)), null, `${c.name} cut at ${n}`);
        assert.equal(parseFrame(c.linkType, c.frame, n), null, `${c.name} captured length ${n}`);
      }
    }
  });

  test('a captured length past the buffer is clamped to the buffer', () => {
    const c = cases[0] as Case;
    assertDatagram(c.linkType, c.frame, c.source, c.frame.length + 100);
    assertDatagram(c.linkType, c.frame, c.source, Number.NaN);
  });
});

describe('parseFrame never throws (fast-check, 10,000 runs per link type)', () => {
  const linkTypes = [DLT_NULL, DLT_EN10MB, DLT_RAW, LINKTYPE_RAW, DLT_LINUX_SLL, DLT_LINUX_SLL2];
  /** A valid link header and an IP version nibble, then random bytes: reaches the IP and UDP checks. */
  const prefixes: Record<number, number[]> = {
    [DLT_NULL]: [2, 0, 0, 0, 0x45],
    [DLT_EN10MB]: [...new Array<number>(12).fill(0), 0x81, 0x00, 0, 1, 0x08, 0x00, 0x45],
    [DLT_RAW]: [0x60],
    [LINKTYPE_RAW]: [0x45],
    [DLT_LINUX_SLL]: [...new Array<number>(14).fill(0), 0x86, 0xdd, 0x60],
    [DLT_LINUX_SLL2]: [0x08, 0x00, ...new Array<number>(18).fill(0), 0x45],
  };

  const check = (linkType: number, frame: Uint8Array, length?: number): void => {
    const d = parseFrame(linkType, frame, length);
    if (d === null) return;
    const end = length !== undefined && length >= 0 && length <= frame.length ? length : frame.length;
    // Whatever it accepts must lie inside the captured bytes.
    assert.equal(d.payload.buffer, frame.buffer);
    assert.ok(d.payload.byteOffset - frame.byteOffset + d.payload.length <= end);
    assert.ok(d.sourcePort >= 0 && d.sourcePort <= 65535 && d.destPort >= 0 && d.destPort <= 65535);
  };

  for (const linkType of linkTypes) {
    test(`link type ${linkType}: random bytes`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 256 }),
          fc.option(fc.integer({ min: -2, max: 300 }), { nil: undefined }),
          (frame, length) => {
            check(linkType, frame, length);
          },
        ),
        { numRuns: 10_000 },
      );
    });

    test(`link type ${linkType}: valid link header, random rest`, () => {
      const prefix = prefixes[linkType] as number[];
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
          const frame = new Uint8Array(prefix.length + tail.length);
          frame.set(prefix);
          frame.set(tail, prefix.length);
          check(linkType, frame);
        }),
        { numRuns: 10_000 },
      );
    });
  }

  test('random link types', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1, max: 300 }), fc.uint8Array({ maxLength: 128 }), (linkType, frame) => {
        check(linkType, frame);
        assert.equal(isSupportedLinkType(linkType), linkTypes.includes(linkType));
      }),
      { numRuns: 10_000 },
    );
  });
});
