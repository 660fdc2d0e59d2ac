// Running a CommonJS file with a V8 code cache (src/code-cache.cts): exports and require work, a
// cache saved after a run is accepted by the next compile, one for other source is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileWithCodeCache, runCompiled, saveCodeCache } from '../../src/code-cache.cjs';

test('runs the file as a CommonJS module; the cache a run saves is accepted, not for other source', () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-code-cache-'));
  const file = join(dir, 'mod.cjs');
  writeFileSync(join(dir, 'dep.cjs'), 'exports.two = 2;\n');
  writeFileSync(file, '#!/usr/bin/env node\nconst { join } = require("node:path");\nexports.where = join(__dirname, "x");\nexports.twice = (n) => require("./dep.cjs").two * n;\n');
  const fileRequire = createRequire(file);
  const first = compileWithCodeCache(file, join(dir, 'missing.cache'));
  assert.equal(first.cacheRejected, true, 'no cache yet');
  const exported = runCompiled(first, file, fileRequire) as { where: string; twice: (n: number) => number };
  assert.equal(exported.where, join(dir, 'x'), '__dirname is the file\'s');
  assert.equal(exported.twice(21), 42, 'the require given resolves from the file\'s directory');
  saveCodeCache(first, join(dir, 'mod.cache'));

  const second = compileWithCodeCache(file, join(dir, 'mod.cache'));
  assert.equal(second.cacheRejected, false, 'the saved cache is used');
  assert.equal((runCompiled(second, file, fileRequire) as { twice: (n: number) => number }).twice(4), 8);

  writeFileSync(file, 'exports.other = true;\n');
  const changed = compileWithCodeCache(file, join(dir, 'mod.cache'));
  assert.equal(changed.cacheRejected, true, 'a cache for other source is refused');
  assert.deepEqual(runCompiled(changed, file, fileRequire), { other: true }, 'and the file runs all the same');
});

test('an error thrown by the file keeps its line number (the shebang line is blanked, not removed)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-code-cache-'));
  const file = join(dir, 'throws.cjs');
  writeFileSync(file, '#!/usr/bin/env node\n\nthrow new Error("on line 3");\n');
  assert.throws(() => runCompiled(compileWithCodeCache(file), file, createRequire(file)), (err: Error) => (err.stack ?? '').includes(`${file}:3`));
});
