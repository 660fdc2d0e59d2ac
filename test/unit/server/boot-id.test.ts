// The boot id: read from the kernel where there is one; undefined, not an error, where there is not.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { currentBootId } from '../../../src/server/state/boot-id.js';

test('reads and trims the id; a missing or empty file gives undefined', () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-boot-'));
  const file = join(dir, 'boot_id');
  writeFileSync(file, '3f1e2d4c-aaaa-4bbb-8ccc-0123456789ab\n');
  assert.equal(currentBootId(file), '3f1e2d4c-aaaa-4bbb-8ccc-0123456789ab');
  writeFileSync(file, '\n');
  assert.equal(currentBootId(file), undefined);
  assert.equal(currentBootId(join(dir, 'missing')), undefined);
});

test('on Linux the kernel gives one, the same on every read', (t) => {
  if (!existsSync('/proc/sys/kernel/random/boot_id')) return t.skip('no /proc/sys/kernel/random/boot_id here');
  const id = currentBootId();
  assert.match(id ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(currentBootId(), id);
});
