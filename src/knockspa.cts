#!/usr/bin/env node
/**
 * The knockspa command: runs the bundled CLI (knockspa-cli.cjs beside this file, built from
 * src/cli.ts by scripts/bundle-cli.ts). Where this Node has it (22.1 and later), Node's own compile
 * cache is switched on first, so a later run need not compile the bundle again; older Nodes just
 * run it.
 * @module
 */
const { enableCompileCache } = require('node:module') as { enableCompileCache?: () => unknown };
if (typeof enableCompileCache === 'function') enableCompileCache();
require('./knockspa-cli.cjs');
