/**
 * Runs a CommonJS file with V8's code cache for it: the bytecode of the functions a build-time run
 * compiled (scripts/bundle-cli.ts), so a later run skips compiling them. For the knockspa command,
 * whose start-up is mostly compiling its bundle (~20 ms of `knockspa open` here). A cache V8
 * rejects (another Node version or flags, another bundle) is ignored: the file is compiled as usual.
 * CommonJS on purpose: the command must not pay for the ES module loader.
 *
 * The cache is trusted like the file itself (it sits beside it, written by the same build): V8
 * refuses one made for another Node version, other flags or other source, or cut short, but does
 * not checksum it, so a corrupted one could crash the process.
 *
 * Code run this way cannot `import()`: on Node 20, V8 loses the import callback of a script built
 * from a cache (and the option that sets one is experimental and warns). So only code that imports
 * nothing at run time may come through here (see src/knockspa.cts).
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

export interface CompiledFile {
  readonly script: Script;
  /** True if there was no cache or V8 refused it. */
  readonly cacheRejected: boolean;
}

/** Compiles `file` as a CommonJS module, with the cache in `cacheFile` if there is one. */
export function compileWithCodeCache(file: string, cacheFile?: string): CompiledFile {
  let cachedData: Buffer | undefined;
  try {
    cachedData = cacheFile === undefined ? undefined : readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // The shebang line is blanked, not removed, so line numbers in stack traces stay right.
  const source = readFileSync(file, 'utf8').replace(/^#!.*/, '');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  return { script, cacheRejected: cachedData === undefined || script.cachedDataRejected === true };
}

/**
 * Runs a compiled file as `require(file)` would; returns its exports. `fileRequire` is the
 * `require` the file gets: one that resolves from its directory (`createRequire(file)`, or the
 * caller's own when it sits beside the file, which spares loading node:module, ~0.3 ms).
 */
export function runCompiled({ script }: CompiledFile, file: string, fileRequire: NodeJS.Require): unknown {
  const module = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;
  wrapper(module.exports, fileRequire, module, file, dirname(file));
  return module.exports;
}

/** Writes the cache of what `compiled` has compiled so far (after a run: the functions it used). */
export function saveCodeCache({ script }: CompiledFile, cacheFile: string): void {
  writeFileSync(cacheFile, script.createCachedData());
}
