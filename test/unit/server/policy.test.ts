// User policy: ports allowed (all or nothing), duration default and cap, require_ip, the address opened for.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Verified } from '../../../src/protocol/packet.js';
import type { UserPolicy } from '../../../src/server/config/config.js';
import { AddressPolicy } from '../../../src/server/intake/address-policy.js';
import { authorize as authorizeWith, mayKeep } from '../../../src/server/intake/policy.js';

/** A host with no addresses of its own: only the address classes matter. */
const NOT_LOCAL = new AddressPolicy({ loopback: false, linkLocal: false, interfaces: () => ({}) });
const authorize = (...args: [Verified, UserPolicy | undefined, string, number]): ReturnType<typeof authorizeWith> =>
  authorizeWith(...args, NOT_LOCAL);

const ALICE: UserPolicy = {
  name: 'alice',
  ports: [
    { proto: 'tcp', port: 22 },
    { proto: 'udp', port: 53 },
  ],
  maxDurationSec: 300,
  requireIp: false,
  format: 'knockspa',
};

function knock(over: Partial<Verified>): Verified {
  return {
    timestampMs: 0,
    action: 'open',
    ports: [{ proto: 'tcp', port: 22 }],
    allowIp: null,
    durationSec: 0,
    user: 'alice',
    keyIdHex: '00',
    packetId: '00',
    ...over,
  };
}

test('opens for the source address, with the default duration', () => {
  const d = authorize(knock({}), ALICE, '198.18.0.2', 30);
  assert.deepEqual(d, {
    action: 'open',
    user: 'alice',
    ip: '198.18.0.2',
    family: 4,
    ports: [{ proto: 'tcp', port: 22 }],
    durationSec: 30,
    capped: false,
  });
});

test('opens for the named address, IPv6 included', () => {
  const d = authorize(knock({ allowIp: '2001:db8:4b::3' }), ALICE, '198.18.0.2', 30);
  assert.ok(typeof d !== 'string');
  assert.equal(d.ip, '2001:db8:4b::3');
  assert.equal(d.family, 6);
});

test('caps the duration at max_duration and says so', () => {
  const d = authorize(knock({ durationSec: 3600 }), ALICE, '198.18.0.2', 30);
  assert.ok(typeof d !== 'string');
  assert.equal(d.durationSec, 300);
  assert.equal(d.capped, true);
  const ok = authorize(knock({ durationSec: 300 }), ALICE, '198.18.0.2', 30);
  assert.ok(typeof ok !== 'string' && ok.durationSec === 300 && !ok.capped);
});

test('one port the user may not open refuses the whole knock', () => {
  assert.equal(
    authorize(
      knock({
        ports: [
          { proto: 'tcp', port: 22 },
          { proto: 'tcp', port: 80 },
        ],
      }),
      ALICE,
      '198.18.0.2',
      30,
    ),
    'port-not-allowed',
  );
  assert.equal(authorize(knock({ ports: [{ proto: 'udp', port: 22 }] }), ALICE, '198.18.0.2', 30), 'port-not-allowed', 'protocol matters');
});

test('require_ip refuses knocks for the source address, accepts named ones', () => {
  const strict = { ...ALICE, requireIp: true };
  assert.equal(authorize(knock({}), strict, '198.18.0.2', 30), 'ip-required');
  assert.ok(typeof authorize(knock({ allowIp: '198.18.0.2' }), strict, '198.18.0.2', 30) !== 'string');
});

test('a user missing from the config is refused', () => {
  assert.equal(authorize(knock({}), undefined, '198.18.0.2', 30), 'unknown-user');
});

test('a close knock carries no duration and is never capped', () => {
  const d = authorize(knock({ action: 'close' }), ALICE, '198.18.0.2', 30);
  assert.ok(typeof d !== 'string');
  assert.equal(d.durationSec, 0);
  assert.equal(d.capped, false);
});

test('mayKeep: a grant stays only while its user is configured, can knock, and has the port', () => {
  const users = new Map<string, UserPolicy>([
    ['alice', { name: 'alice', ports: [{ proto: 'tcp', port: 22 }], maxDurationSec: 300, requireIp: false, format: 'knockspa' }],
    ['carol', { name: 'carol', ports: [{ proto: 'tcp', port: 22 }], maxDurationSec: 300, requireIp: false, format: 'knockspa' }],
    ['erin', { name: 'erin', ports: [{ proto: 'udp', port: 53 }], maxDurationSec: 300, requireIp: false, format: 'fwknop' }],
  ]);
  const keep = mayKeep(users, new Set(['alice']));
  assert.equal(keep({ user: 'alice', proto: 'tcp', port: 22 }), true);
  assert.equal(keep({ user: 'alice', proto: 'tcp', port: 2222 }), false, 'port taken away');
  assert.equal(keep({ user: 'alice', proto: 'udp', port: 22 }), false, 'same number, other protocol');
  assert.equal(keep({ user: 'carol', proto: 'tcp', port: 22 }), false, 'no key file left');
  assert.equal(keep({ user: 'bob', proto: 'tcp', port: 22 }), false, 'no longer configured');
  assert.equal(keep({ user: 'erin', proto: 'udp', port: 53 }), true, 'fwknop users need no key file');
});

test('a source or allow-ip that can never be a client is refused, with the class as the reason', () => {
  for (const [source, reason] of [
    ['0.0.0.0', 'source-unspecified'],
    ['0.1.2.3', 'source-this-network'],
    ['127.0.0.1', 'source-loopback'],
    ['224.0.0.5', 'source-multicast'],
    ['255.255.255.255', 'source-broadcast'],
    ['240.0.0.1', 'source-reserved'],
    ['169.254.1.1', 'source-link-local'],
    ['::', 'source-unspecified'],
    ['::1', 'source-loopback'],
    ['ff02::1', 'source-multicast'],
    ['fe80::1', 'source-link-local'],
    ['::ffff:8.8.8.8', 'source-v4-mapped'],
  ] as const)
    assert.equal(authorize(knock({}), ALICE, source, 30), reason, source);
  assert.equal(authorize(knock({ allowIp: '127.0.0.1' }), ALICE, '198.18.0.2', 30), 'allow-ip-loopback');
  assert.equal(authorize(knock({ allowIp: 'ff02::1' }), ALICE, '198.18.0.2', 30), 'allow-ip-multicast');
});

test("the server's own addresses and subnet broadcasts are refused; loopback and link-local only when configured", () => {
  const interfaces = () => ({
    eth0: [
      {
        address: '198.18.0.1',
        netmask: '255.255.255.0',
        family: 'IPv4' as const,
        mac: '00:00:00:00:00:01',
        internal: false,
        cidr: '198.18.0.1/24',
      },
      {
        address: 'fe80::1',
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6' as const,
        mac: '00:00:00:00:00:01',
        internal: false,
        cidr: 'fe80::1/64',
        scopeid: 2,
      },
    ],
  });
  const host = new AddressPolicy({ loopback: false, linkLocal: true, interfaces });
  assert.equal(authorizeWith(knock({}), ALICE, '198.18.0.1', 30, host), 'source-own-address');
  assert.equal(authorizeWith(knock({}), ALICE, '198.18.0.255', 30, host), 'source-subnet-broadcast');
  assert.equal(authorizeWith(knock({}), ALICE, 'fe80::1', 30, host), 'source-own-address');
  assert.equal(typeof authorizeWith(knock({}), ALICE, 'fe80::2', 30, host), 'object', 'link-local configured');
  assert.equal(authorizeWith(knock({ allowIp: '198.18.0.1' }), ALICE, '198.18.0.2', 30, host), 'allow-ip-own-address');
  const onLoopback = new AddressPolicy({
    loopback: true,
    linkLocal: false,
    interfaces: () => ({
      lo: [
        {
          address: '127.0.0.1',
          netmask: '255.0.0.0',
          family: 'IPv4' as const,
          mac: '00:00:00:00:00:00',
          internal: true,
          cidr: '127.0.0.1/8',
        },
      ],
    }),
  });
  assert.equal(typeof authorizeWith(knock({}), ALICE, '127.0.0.1', 30, onLoopback), 'object', 'SPA port on loopback');
  assert.equal(authorizeWith(knock({}), ALICE, 'fe80::2', 30, onLoopback), 'source-link-local');
});
