/**
 * `node --import dist/test/support/import-trace-register.js ...`: installs the import-trace hook.
 * @module
 */
import { register } from 'node:module';

register('./import-trace.js', import.meta.url);
