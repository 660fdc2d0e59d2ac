/**
 * `npm run build` step 2 (after tsc): bundles src/cli.ts, its commands (src/commands/) and the
 * whole client into one CommonJS file, dist/src/knockspa-cli.cjs, which the `knockspa` command
 * (dist/src/knockspa.cjs, tsc's output of src/knockspa.cts) runs. One file because Node loads one
 * CommonJS file faster than the many ES modules tsc emits for `knockspa open`.
 *
 * The server and doctor modules, pino and pcap stay outside the bundle: the client path must not
 * contain server code. The commands that need them `import()` the tsc output beside the bundle
 * (dist/src/server/..., dist/src/doctor/...) at run time. Whitespace and syntax are minified,
 * names are not, so stack traces still name the functions.
 *
 *   node dist/scripts/bundle-cli.js
 * @module
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');

/** Where the bundle goes: dist/src/, so that a path relative to src/ finds the tsc output there. */
const BUNDLE = 'dist/src/knockspa-cli.cjs';
/** The command that runs it (tsc's output of src/knockspa.cts). */
const COMMAND = 'dist/src/knockspa.cjs';
/** What went into it (esbuild's metafile), for the test that no server code did; not shipped. */
const BUNDLE_META = 'dist/knockspa.cjs.meta.json';

/**
 * A relative import of server or doctor code (from src/commands/...) stays an import, rewritten to
 * the same file's path relative to the bundle: `../server/run-server.js` becomes `./server/run-server.js`.
 */
const serverAndDoctorOutside: Plugin = {
  name: 'server-and-doctor-outside',
  setup(bundle) {
    bundle.onResolve({ filter: /^\.\.?\/(.*\/)?(server|doctor)\// }, (args) => {
      const target = relative(SRC, resolve(dirname(args.importer), args.path));
      return /^(server|doctor)\//.test(target) ? { path: `./${target}`, external: true } : undefined;
    });
  },
};

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: ['src/cli.ts'],
  outfile: BUNDLE,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  external: ['pino', 'pcap'],
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  plugins: [serverAndDoctorOutside],
});
writeFileSync(join(ROOT, BUNDLE_META), JSON.stringify(result.metafile));
// npm links the bin, but a checkout runs it directly.
chmodSync(join(ROOT, COMMAND), 0o755);
