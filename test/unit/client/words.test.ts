// The client's messages: network errors in words, what a probe outcome means, counts, TOML keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveFailure, sendFailure } from '../../../src/client/net-words.js';
import { explainProbe } from '../../../src/client/probe-report.js';
import { nextAttemptDelay } from '../../../src/client/probe.js';
import { counted } from '../../../src/shared/plural.js';
import { tomlKey } from '../../../src/shared/toml-key.js';

const ctx = { address: '192.0.2.1', spaPort: 62201, port: 22, waitedSec: 10 };

test('name and route failures are said in words, the errno kept', () => {
  assert.match(resolveFailure('nosuch.example', { code: 'ENOTFOUND' }), /^cannot resolve nosuch\.example: no such host name \(ENOTFOUND\)/);
  assert.match(resolveFailure('h.example', { code: 'EAI_AGAIN' }), /no answer from the DNS server \(EAI_AGAIN\)/);
  assert.match(sendFailure('192.0.2.1', 'udp', 62201, { code: 'ENETUNREACH' }), /no route to that network \(ENETUNREACH\)/);
  assert.match(sendFailure('192.0.2.1', 'tcp', 22, { code: 'EHOSTUNREACH' }), /host unreachable \(EHOSTUNREACH\)/);
  assert.match(sendFailure('192.0.2.1', 'udp', 62201, { code: 'EPERM' }), /its own firewall blocks it/);
});

test('a TCP reset: open for you, nothing listens; no list of guesses', () => {
  const lines = explainProbe({ kind: 'answered', code: 'ECONNREFUSED', ms: 300 }, ctx);
  assert.equal(lines.length, 1);
  assert.match(lines[0] ?? '', /^the port is open for you but nothing listens on tcp\/22 at 192\.0\.2\.1/);
});

test('a refused knock: no daemon listening, and no guesses about clocks or keys', () => {
  const reason = 'no knockspa daemon is listening on udp/62201 at 192.0.2.1 (it answered the knock with ICMP port-unreachable)';
  const text = explainProbe({ kind: 'stopped', reason, ms: 2 }, ctx).join('\n');
  assert.match(text, /^no knockspa daemon is listening on udp\/62201 at 192\.0\.2\.1/);
  assert.doesNotMatch(text, /clock/);
});

test('silence: what was observed first, then the guesses, most likely first', () => {
  const lines = explainProbe({ kind: 'timeout', ms: 10_000 }, ctx);
  assert.match(lines[0] ?? '', /^tcp\/22 did not answer within 10 s/);
  assert.match(lines[1] ?? '', /Observed: the knock left for 192\.0\.2\.1 udp\/62201 and no error came back/);
  const guesses = lines.filter((l) => l.startsWith('  - '));
  assert.match(guesses[0] ?? '', /daemon is not running/);
  assert.match(guesses[1] ?? '', /wrong host or server id/);
  assert.match(guesses[2] ?? '', /SPA port is blocked/);
  assert.match(guesses[3] ?? '', /clocks differ/);
  assert.match(guesses[4] ?? '', /key is not the one/);
});

test('the probe starts a new connect every 100 ms for 2 s, then every 500 ms', () => {
  assert.equal(nextAttemptDelay(0), 100);
  assert.equal(nextAttemptDelay(1999), 100);
  assert.equal(nextAttemptDelay(2000), 500);
});

test('counts and TOML keys in messages', () => {
  assert.equal(counted(1, 'user'), '1 user');
  assert.equal(counted(2, 'knock'), '2 knocks');
  assert.equal(counted(0, 'user'), '0 users');
  assert.equal(tomlKey('myserver'), 'myserver');
  assert.equal(tomlKey('sctp/22'), '"sctp/22"');
});
