#!/usr/bin/env node
/**
 * The knockspa command: runs the bundled CLI (knockspa-cli.cjs beside this file, built from
 * src/cli.ts by scripts/bundle-cli.ts). Where this Node has it (module.enableCompileCache, 22.1
 * and later), Node's own compile cache is switched on first, so a later run need not compile the
 * bundle again; older Nodes just run it.
 * @module
 */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

type EnableCompileCache = (directory?: string) => unknown;

const { enableCompileCache } = require('node:module') as { enableCompileCache?: EnableCompileCache };
if (typeof enableCompileCache === 'function') {
  // The user's own cache directory (XDG), not Node's default in the shared temp directory, where
  // another local user could have put cache files first. If it cannot be made, Node runs uncached.
  const xdg = process.env.XDG_CACHE_HOME;
  enableCompileCache(join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'knockspa', 'compile-cache'));
}
require('./knockspa-cli.cjs');
