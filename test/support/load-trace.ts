/**
 * `node --import dist/test/support/load-trace.js ...`: prints on stderr what the process loads, for
 * tests of what each command's start-up contains. "LOAD file:///..." for every ES module as it is
 * resolved (import-trace.ts) and, at exit, for every CommonJS module (the CLI bundle, pino, ...).
 * @module
 */
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

register('./import-trace.js', import.meta.url);

// require() does not pass the ESM resolve hook; every CommonJS module ends up in require.cache.
const { cache } = createRequire(import.meta.url);

process.on('exit', () => {
  for (const file of Object.keys(cache)) process.stderr.write(`LOAD ${pathToFileURL(file).href}\n`);
});
