/**
 * `npm run build` step 2 (after tsc): bundles src/cli.ts and the whole client into one CommonJS
 * file, dist/src/knockspa-cli.cjs, which the `knockspa` command (dist/src/knockspa.cjs, from
 * src/knockspa.cts) runs. Why: start-up time is module loading, and Node loads one CommonJS file
 * much faster than the ~40 ES modules tsc emits for `knockspa open` (an ESM bundle with code
 * splitting was measured slower than this). Then the bundle's V8 code cache
 * (dist/src/knockspa-cli.cjs.cache, src/code-cache.cts): one `knockspa open` is run with a
 * throwaway key (keygen into a temp directory; the knock goes to 127.0.0.1's discard port, 9) and
 * the bytecode it compiled is kept, so `knockspa open` does not compile it again. The command file
 * is bundled too, with the code-cache module in it.
 *
 * The server and doctor modules, pino and pcap stay outside the bundle: the client path must not
 * contain server code, and their commands `import()` the tsc output beside the bundle
 * (dist/src/server/main.js, ...) at run time. Whitespace and syntax are minified (168 KB instead
 * of 278; ~2 ms less start-up, measured taking turns), names are not, so stack traces still name
 * the functions. No source map: Node 20 does not apply one to code run through vm.Script.
 *
 *   node dist/scripts/bundle-cli.js
 * @module
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where the bundle goes: next to dist/src/cli.js, so `./server/...` resolves to the tsc output. */
const BUNDLE = 'dist/src/knockspa-cli.cjs';
/** The command that runs it: src/knockspa.cts with src/code-cache.cts inlined, bundled below over tsc's output. */
const COMMAND = 'dist/src/knockspa.cjs';
const CODE_CACHE_MODULE = 'dist/src/code-cache.cjs';
/** What went into it (esbuild's metafile), for the test that no server code did; not shipped. */
const BUNDLE_META = 'dist/knockspa.cjs.meta.json';

/**
 * commander requires node:child_process when it loads, for executable subcommands, which knockspa
 * has none of; loading it also loads net and the streams (~5 ms of `knockspa open`). Its copy in
 * the bundle is an object that requires the module on first use instead.
 */
const lazyChildProcessForCommander: Plugin = {
  name: 'lazy-child-process-for-commander',
  setup(bundle) {
    bundle.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-builtin' } : undefined,
    );
    bundle.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
      loader: 'js',
      contents: 'module.exports = new Proxy({}, { get: (_target, name) => require("node:child_process")[name] });',
    }));
  },
};

/** What both files are: CommonJS for Node 20, with what they import bundled in. */
const COMMON = { absWorkingDir: ROOT, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning' } as const;

const result = await build({
  ...COMMON,
  entryPoints: ['src/cli.ts'],
  outfile: BUNDLE,
  // Imported as written in src/cli.ts; the doctor's own client imports then load dist/src/client/.
  external: ['pino', 'pcap', './server/*', './doctor/*'],
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  plugins: [lazyChildProcessForCommander],
});
writeFileSync(`${ROOT}${BUNDLE_META}`, JSON.stringify(result.metafile));
// The command itself, with the code-cache module inlined: one file less to find, read and compile
// before the bundle (~0.5 ms), replacing tsc's output of src/knockspa.cts.
await build({ ...COMMON, entryPoints: ['src/knockspa.cts'], outfile: COMMAND });
rmSync(`${ROOT}${COMMAND}.map`, { force: true }); // tsc's, for the file just replaced
// npm links the bin, but a checkout runs it directly.
chmodSync(`${ROOT}${COMMAND}`, 0o755);

/** Run by `node -e` with argv: the code-cache module, the bundle, the cache file, then the CLI's arguments. */
const MAKE_CACHE = `
const [loader, bundle, cache, ...args] = process.argv.slice(1);
const { compileWithCodeCache, runCompiled, saveCodeCache } = require(loader);
process.argv = [process.execPath, bundle, ...args];
const compiled = compileWithCodeCache(bundle);
process.on('exit', () => saveCodeCache(compiled, cache));
runCompiled(compiled, bundle, require('node:module').createRequire(bundle));`;

const tmp = mkdtempSync(join(tmpdir(), 'knockspa-code-cache-'));
try {
  const run = (argv: string[]): void => void execFileSync(process.execPath, argv, { cwd: tmp, stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
  run([`${ROOT}${COMMAND}`, 'keygen', '--user', 'cache', '--out', tmp, '--server-id', 'cache.invalid']);
  const knock = ['open', '22', '--host', '127.0.0.1', '--spa-port', '9', '--key', join(tmp, 'cache.key')];
  run(['-e', MAKE_CACHE, `${ROOT}${CODE_CACHE_MODULE}`, `${ROOT}${BUNDLE}`, `${ROOT}${BUNDLE}.cache`, ...knock]);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
