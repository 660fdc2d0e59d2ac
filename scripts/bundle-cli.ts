/**
 * `npm run build` step 2 (after tsc): bundles src/cli.ts and the whole client into one CommonJS
 * file, dist/src/knockspa.cjs, the `knockspa` command. Why: start-up time is module loading, and
 * Node loads one CommonJS file much faster than the ~40 ES modules tsc emits for `knockspa open`
 * (an ESM bundle with code splitting was measured slower than this).
 *
 * The server and doctor modules, pino and pcap stay outside the bundle: the client path must not
 * contain server code, and their commands `import()` the tsc output beside the bundle
 * (dist/src/server/main.js, ...) at run time. The output is not minified: that measured slower.
 *
 *   node dist/scripts/bundle-cli.js
 * @module
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where the bundle goes: next to dist/src/cli.js, so `./server/...` resolves to the tsc output. */
const BUNDLE = 'dist/src/knockspa.cjs';
/** What went into it (esbuild's metafile), for the test that no server code did; not shipped. */
const BUNDLE_META = 'dist/knockspa.cjs.meta.json';

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: ['src/cli.ts'],
  outfile: BUNDLE,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Imported as written in src/cli.ts; the doctor's own client imports then load dist/src/client/.
  external: ['pino', 'pcap', './server/*', './doctor/*'],
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(`${ROOT}${BUNDLE_META}`, JSON.stringify(result.metafile));
// The shebang comes over from src/cli.ts; npm links the bin, but a checkout runs it directly.
chmodSync(`${ROOT}${BUNDLE}`, 0o755);
