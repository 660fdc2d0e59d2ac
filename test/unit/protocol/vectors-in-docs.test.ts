/** docs/protocol.md lists every test vector's packet (fails until the "Test vectors" section is pasted into the docs). */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, loadVectors } from './vectors-load.js';

const DOCS = join(REPO_ROOT, 'docs', 'protocol.md');

test('docs/protocol.md contains every test vector packet hex (paste `node dist/test/vectors/generate.js --markdown`)', () => {
  assert.ok(existsSync(DOCS), `${DOCS} does not exist yet`);
  const docs = readFileSync(DOCS, 'utf8').replace(/\s+/g, '').toLowerCase();
  const missing = loadVectors().filter((v) => !docs.includes(v.packet));
  assert.deepEqual(
    missing.map((v) => v.name),
    [],
    'vectors missing from docs/protocol.md; print the section with node dist/test/vectors/generate.js --markdown',
  );
});
