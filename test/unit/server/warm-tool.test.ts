// Running firewall tools (exec.ts) and keeping one started ahead of need (warm-tool.ts), with
// stand-in tools (node scripts): output, exit codes, a missing program, spares and their ends.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runTool } from '../../../src/server/firewall/exec.js';
import { FirewallError } from '../../../src/server/firewall/firewall.js';
import { WarmTool } from '../../../src/server/firewall/warm-tool.js';

const NODE = process.execPath;
const WARM_TOOL_MODULE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/server/firewall/warm-tool.js');

/**
 * A stand-in tool: counts its starts in DIR/starts (and leaves its pid in DIR/starts.pidN); the start numbered `failStart` exits 7 at once
 * without reading; the others echo {start, startedAt, firstReadAt, input} once stdin ends.
 */
function standIn(dir: string, failStart = 0): string[] {
  const counter = join(dir, 'starts');
  writeFileSync(counter, '0');
  const script = `
    const fs = require('fs');
    const startedAt = Date.now();
    const start = Number(fs.readFileSync(${JSON.stringify(counter)}, 'utf8')) + 1;
    fs.writeFileSync(${JSON.stringify(counter)} + '.pid' + start, String(process.pid));
    fs.writeFileSync(${JSON.stringify(counter)}, String(start));
    if (start === ${failStart}) process.exit(7);
    let input = '';
    let firstReadAt = 0;
    process.stdin.on('data', (c) => ((firstReadAt ||= Date.now()), (input += c))).on('end', () => console.log(JSON.stringify({ start, startedAt, firstReadAt, input })));`;
  return [NODE, '-e', script];
}

const starts = (dir: string): number => Number(readFileSync(join(dir, 'starts'), 'utf8'));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await sleep(50);
  assert.ok(done(), what);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Written before the start is counted, so there once starts(dir) says so. */
const pidOf = (dir: string, start: number): number => Number(readFileSync(join(dir, `starts.pid${start}`), 'utf8'));

test('runTool feeds stdin and returns the output; a failure is a FirewallError with the exit code and stderr', async () => {
  assert.equal((await runTool([NODE, '-e', 'process.stdin.pipe(process.stdout)'], 'a script\n')).stdout, 'a script\n');
  await assert.rejects(runTool([NODE, '-e', 'process.stderr.write("line 2 failed"); process.exit(3)']), (err: unknown) => {
    assert.ok(err instanceof FirewallError);
    assert.equal(err.exitCode, 3);
    assert.equal(err.stderr, 'line 2 failed');
    return true;
  });
  await assert.rejects(
    runTool(['/nonexistent/iptables-restore']),
    (err: unknown) => err instanceof FirewallError && err.exitCode === 'ENOENT',
  );
});

test('a primed tool is started before the run that uses it; an unprimed one only when run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-warm-'));
  const warm = new WarmTool(standIn(dir));
  try {
    const cold = JSON.parse((await warm.run('one')).stdout) as { start: number; startedAt: number; input: string };
    assert.equal(cold.input, 'one');
    assert.equal(starts(dir), 1, 'not primed: no spare after the run');

    warm.prime();
    await waitFor('the spare starts', () => starts(dir) === 2);
    const before = Date.now();
    const used = JSON.parse((await warm.run('two')).stdout) as { start: number; startedAt: number; input: string };
    assert.equal(used.input, 'two');
    assert.equal(used.start, 2, 'the run used the spare');
    assert.ok(used.startedAt < before, 'the spare was running before the run began');
    await waitFor('and the next spare is started after it', () => starts(dir) === 3);
  } finally {
    warm.release();
  }
});

test('a spare that died is replaced by a fresh start; after release no spare is started', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-warm-'));
  const warm = new WarmTool(standIn(dir, 1));
  warm.prime();
  await waitFor('the spare starts', () => starts(dir) === 1);
  await waitFor('and dies', () => !alive(pidOf(dir, 1)));
  await sleep(50); // for its exit to reach this process
  const out = JSON.parse((await warm.run('after a death')).stdout) as { start: number; input: string };
  assert.deepEqual([out.start, out.input], [2, 'after a death']);
  warm.release();
  await sleep(300);
  const n = starts(dir);
  assert.equal((JSON.parse((await warm.run('released')).stdout) as { start: number }).start, n + 1);
  await sleep(300);
  assert.equal(starts(dir), n + 1, 'released: the run started the tool itself and left no spare');
});

test('an idle spare does not keep the daemon alive, and ends (reading nothing) when the daemon does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-warm-'));
  const argv = standIn(dir);
  const owner = `import(${JSON.stringify(WARM_TOOL_MODULE)}).then((m) => new m.WarmTool(${JSON.stringify(argv)}).prime())`;
  const exit = await new Promise<number | null>((done) =>
    execFile(NODE, ['-e', owner], { timeout: 20_000 }, (err) => done(err === null ? 0 : (err.code as number | null))),
  );
  assert.equal(exit, 0, 'the owner exited on its own');
  await waitFor('the spare had started', () => starts(dir) === 1);
  // Its stdin closed with the owner: it read nothing and ended.
  await waitFor('the spare is gone', () => !alive(pidOf(dir, 1)));
});

test('out of file descriptors: a failed start is an error for that run, not the end of the daemon', async () => {
  const exec = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/server/firewall/exec.js');
  // Fill the descriptor table (all but two), then try to run a tool; report what happened.
  const script = join(mkdtempSync(join(tmpdir(), 'knockspa-emfile-')), 'emfile.cjs');
  writeFileSync(
    script,
    `const fs = require('fs');
    process.stdout.write(''); // opened now: with no descriptor left it could not be
    import(${JSON.stringify(exec)}).then(async ({ runTool }) => {
      const held = [];
      try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch {}
      for (let i = 0; i < 2; i++) fs.closeSync(held.pop());
      try { await runTool(['true']); console.log('ran'); } catch (e) { console.log('refused', e.name, e.exitCode); }
      console.log('alive');
      process.exit(0);
    });`,
  );
  const out = await new Promise<string>((done) =>
    execFile('sh', ['-c', 'ulimit -n 64 && exec "$0" "$1"', NODE, script], { timeout: 20_000 }, (_e, stdout) => done(stdout)),
  );
  assert.match(out, /^refused FirewallError EMFILE\nalive\n$/);
});
