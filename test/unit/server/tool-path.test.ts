// Firewall tools come from the system directories, never the inherited PATH (tool-path.ts, exec.ts).
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runTool } from '../../../src/server/firewall/exec.js';
import { findTool, SYSTEM_DIRS, TOOL_ENV, toolPath } from '../../../src/server/firewall/tool-path.js';

test('findTool: the first directory holding an executable file of that name; none for a name with a slash or an empty one', () => {
  const root = mkdtempSync(join(tmpdir(), 'knockspa-tools-'));
  const [a, b, c] = ['a', 'b', 'c'].map((d) => join(root, d)) as [string, string, string];
  for (const d of [a, b, c]) mkdirSync(d);
  writeFileSync(join(a, 'nft'), '#!/bin/sh\n', { mode: 0o644 }); // not executable
  mkdirSync(join(b, 'iptables')); // a directory
  for (const d of [b, c]) {
    writeFileSync(join(d, 'nft'), '#!/bin/sh\n');
    chmodSync(join(d, 'nft'), 0o755);
  }
  writeFileSync(join(c, 'iptables'), '#!/bin/sh\n');
  chmodSync(join(c, 'iptables'), 0o755);
  assert.equal(findTool('nft', [a, b, c]), join(b, 'nft'));
  assert.equal(findTool('iptables', [a, b, c]), join(c, 'iptables'));
  assert.equal(findTool('absent', [a, b, c]), undefined);
  assert.equal(findTool('../c/nft', [a, b]), undefined);
  assert.equal(findTool('', [a, b, c]), undefined);
  const asked: string[] = [];
  findTool('x', ['/d1', '/d2'], (p) => (asked.push(p), false));
  assert.deepEqual(asked, ['/d1/x', '/d2/x'], 'directories in order');
});

test('the system directories only, whatever PATH says; an absolute name is run as given', (t) => {
  const fake = mkdtempSync(join(tmpdir(), 'knockspa-path-'));
  writeFileSync(join(fake, 'sh'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(fake, 'sh'), 0o755);
  const saved = process.env.PATH;
  t.after(() => (process.env.PATH = saved));
  process.env.PATH = `${fake}:${saved ?? ''}`;
  const sh = toolPath('sh');
  assert.ok(sh !== undefined && SYSTEM_DIRS.some((d) => sh === join(d, 'sh')), `sh from a system directory, got ${sh}`);
  assert.equal(toolPath('/opt/x/tool'), '/opt/x/tool');
  assert.deepEqual(Object.keys(TOOL_ENV).sort(), ['LC_ALL', 'PATH']);
  assert.equal(TOOL_ENV.PATH, SYSTEM_DIRS.join(':'));
});

test("a tool runs with the minimal environment, not the daemon's", async (t) => {
  const saved = { PATH: process.env.PATH, SECRET: process.env.KNOCKSPA_TEST_SECRET };
  t.after(() => {
    process.env.PATH = saved.PATH;
    if (saved.SECRET === undefined) delete process.env.KNOCKSPA_TEST_SECRET;
    else process.env.KNOCKSPA_TEST_SECRET = saved.SECRET;
  });
  process.env.KNOCKSPA_TEST_SECRET = 'x';
  process.env.PATH = `/nonexistent:${saved.PATH ?? ''}`;
  const { stdout } = await runTool(['env']);
  assert.deepEqual(stdout.trim().split('\n').sort(), [`LC_ALL=C`, `PATH=${SYSTEM_DIRS.join(':')}`]);
});

test('a name found in no system directory fails as ENOENT, naming the directories', async () => {
  await assert.rejects(runTool(['knockspa-no-such-tool']), (err: unknown) => {
    const e = err as { exitCode?: unknown; message: string };
    return e.exitCode === 'ENOENT' && /not found in \/usr\/sbin, \/usr\/bin, \/sbin, \/bin/.test(e.message);
  });
});
