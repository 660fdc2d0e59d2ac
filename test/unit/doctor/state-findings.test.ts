// doctor on the state directory: fails where the daemon would refuse it (others can write it, a
// link), and on a state file that is not a regular file; ok where it is the daemon's own.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ServerConfig } from '../../../src/server/config/config.js';
import { stateFindings } from '../../../src/doctor/key-findings.js';

const configWith = (stateDir: string): ServerConfig => ({ stateDir }) as ServerConfig;

test("a state directory others can write fails, with the fix; the daemon's own passes", () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-doctor-state-'));
  chmodSync(dir, 0o1777);
  const [finding] = stateFindings(configWith(dir));
  assert.equal(finding?.status, 'fail');
  assert.match(finding?.what ?? '', /mode 1777, which lets others change it/);
  assert.match(finding?.fix ?? '', /chmod go-w/);
  chmodSync(dir, 0o700);
  assert.deepEqual(
    stateFindings(configWith(dir)).map((f) => f.status),
    ['ok'],
  );
});

test('a state directory that is a link, or a state file that is a link, fails', () => {
  const real = mkdtempSync(join(tmpdir(), 'knockspa-doctor-state-'));
  const link = `${real}-link`;
  symlinkSync(real, link);
  assert.equal(stateFindings(configWith(link))[0]?.status, 'fail');
  symlinkSync('/etc/passwd', join(real, 'state.json'));
  assert.deepEqual(
    stateFindings(configWith(real)).map((f) => f.status),
    ['ok', 'fail'],
  );
});
