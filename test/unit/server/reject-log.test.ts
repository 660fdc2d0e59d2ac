// Reject logging: reason and source logged, a flood from one source held back and summed up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RejectLog } from '../../../src/server/intake/reject-log.js';
import { captureLog } from '../../support/capture-log.js';

test('logs reason and source, then rate-limits one noisy source without silencing others', () => {
  const { log, events } = captureLog();
  const now = 0;
  const rejects = new RejectLog(log, () => now);
  for (let i = 0; i < 1000; i++) rejects.reject('bad-mac', '198.18.0.66');
  rejects.reject('unknown-key', '198.18.0.2');
  const logged = events('reject');
  assert.ok(logged.length >= 2 && logged.length <= 10, `logged ${logged.length}`);
  const { event, reason, source } = logged[0] ?? {};
  assert.deepEqual({ event, reason, source }, { event: 'reject', reason: 'bad-mac', source: '198.18.0.66' });
  assert.equal(logged.at(-1)?.source, '198.18.0.2');
  rejects.flush();
  const [summary] = events('reject-suppressed');
  assert.equal(summary?.count, 1000 - (logged.length - 1));
  assert.deepEqual(summary?.reasons, { 'bad-mac': 1000 - (logged.length - 1) });
  rejects.flush();
  assert.equal(events('reject-suppressed').length, 1, 'nothing new to sum up');
});

test('spoofed sources cannot flood the log either: an overall cap holds', () => {
  const { log, events } = captureLog();
  const rejects = new RejectLog(log, () => 0);
  for (let i = 0; i < 5000; i++) rejects.reject('bad-length', `198.18.${i >> 8}.${i & 255}`);
  assert.ok(events('reject').length <= 50, `logged ${events('reject').length}`);
});
