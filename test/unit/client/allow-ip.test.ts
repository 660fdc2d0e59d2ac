// The client refuses an allow-ip that can never be a client, before anything is sent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAllowIp } from '../../../src/client/allow-ip.js';

test('unicast allow-ips pass; the rest are refused with the reason', () => {
  checkAllowIp(null, '198.18.0.1');
  checkAllowIp('198.18.0.3', '198.18.0.1');
  checkAllowIp('2001:db8::3', '198.18.0.1');
  for (const [ip, reason] of [
    ['224.0.0.5', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['ff02::1', /multicast/],
    ['127.0.0.1', /loopback, and the server/],
    ['fe80::1', /link-local/],
    ['240.0.0.1', /reserved/],
  ] as const) {
    assert.throws(
      () => checkAllowIp(ip, '198.18.0.1'),
      (e: Error) => e.name === 'UsageError' && reason.test(e.message) && e.message.includes(ip),
      ip,
    );
  }
});

test('loopback only to a server on loopback, link-local only to a link-local server', () => {
  checkAllowIp('127.0.0.2', '127.0.0.1');
  checkAllowIp('fe80::2', 'fe80::1');
  assert.throws(() => checkAllowIp('::1', '2001:db8::1'), /loopback/);
});
