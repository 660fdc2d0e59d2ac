#!/usr/bin/env node
/**
 * The knockspa command: the bundled CLI (knockspa-cli.cjs, built from src/cli.ts by
 * scripts/bundle-cli.ts). The client's commands run it with its code cache (code-cache.cts), which
 * is what makes `knockspa open` start fast; the others `import()` the server's or the doctor's
 * modules, which code run from a cache cannot, so they load it with plain require.
 * @module
 */
import { join } from 'node:path';
import { compileWithCodeCache, runCompiled } from './code-cache.cjs';

/** Commands whose code is all in the bundle (it imports nothing at run time for them). */
const CACHED = new Set(['open', 'close', 'connect', 'keygen']);

const bundle = join(__dirname, 'knockspa-cli.cjs');
if (CACHED.has(process.argv[2] ?? '')) runCompiled(compileWithCodeCache(bundle, `${bundle}.cache`), bundle, require); // it sits beside the bundle
else require(bundle);
