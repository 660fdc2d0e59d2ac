// The layering rule, checked on the sources: the client never imports server code, the server never
// imports client code, and src/shared/ (their common errors) imports from neither.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'([^']+)'/gm;

/** Every relative import of each .ts file under src/AREA, as paths relative to src/. */
function importsOf(area: string): Array<{ file: string; target: string }> {
  const found: Array<{ file: string; target: string }> = [];
  for (const entry of readdirSync(join(SRC, area), { recursive: true, encoding: 'utf8' })) {
    if (!entry.endsWith('.ts')) continue;
    const file = join(SRC, area, entry);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(SPECIFIER))
      if (spec?.startsWith('.')) found.push({ file: relative(SRC, file), target: relative(SRC, resolve(dirname(file), spec)) });
  }
  return found;
}

const into =
  (area: string) =>
  ({ target }: { target: string }): boolean =>
    target.startsWith(`${area}/`);

test('the client imports no server code, the server no client code, shared neither', () => {
  const client = importsOf('client');
  const server = importsOf('server');
  assert.ok(client.some(into('protocol')) && server.some(into('shared')), 'the check can fail: it sees imports');
  assert.deepEqual(client.filter(into('server')), []);
  assert.deepEqual(server.filter(into('client')), []);
  assert.deepEqual(
    importsOf('shared').filter((i) => !i.target.startsWith('shared/')),
    [],
  );
});
