// The doctor's report format and exit code, and the clock's plausibility check.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clockFindings } from '../../../src/doctor/clock.js';
import { fail, formatFinding, ok, report, warn } from '../../../src/doctor/finding.js';

test('one line per finding: "ok|warn|fail  what  — fix"; exit 1 only if something failed', () => {
  assert.equal(formatFinding(ok('config valid')), 'ok    config valid');
  assert.equal(formatFinding(warn('no NTP', 'install chrony')), 'warn  no NTP  — install chrony');
  assert.equal(formatFinding(fail('key 644', 'chmod 600 k')), 'fail  key 644  — chmod 600 k');
  const lines: string[] = [];
  assert.equal(
    report([ok('a'), warn('b', 'c')], (l) => lines.push(l)),
    0,
  );
  assert.deepEqual(lines, ['ok    a', 'warn  b  — c']);
  assert.equal(
    report([ok('a'), fail('b', 'c')], () => undefined),
    1,
  );
});

test('a clock far off is a failure with the fix; a plausible one is ok', () => {
  const [epoch] = clockFindings(30, new Date(0));
  assert.equal(epoch?.status, 'fail');
  assert.match(epoch?.what ?? '', /clock says 1970-01-01T00:00:00\.000Z/);
  assert.match(epoch?.fix ?? '', /set the time/);
  const now = clockFindings(30, new Date('2026-11-22T00:00:00Z'));
  assert.deepEqual(now[0], { status: 'ok', what: 'clock says 2026-11-22T00:00:00.000Z' });
  assert.equal(now.length, 2, 'and a line about time synchronization');
  assert.notEqual(now[1]?.status, 'fail');
});
