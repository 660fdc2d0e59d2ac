/**
 * `node --import <this file> ...` prints "LOADED <url>" on stderr for every module the ESM loader
 * loads (for a CommonJS package, its entry file, not what that requires), for tests of what a
 * command's import graph holds.
 * @module
 */
import { register } from 'node:module';

register('./load-hooks.js', import.meta.url);
