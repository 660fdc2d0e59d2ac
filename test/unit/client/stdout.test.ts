// The knock commands' output: every line arrives although the process ends with process.exit.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

const MODULE = new URL('../../../src/client/stdout.js', import.meta.url).href;
const LINES = 5_000; // ~350 KB: more than a pipe holds, so writes wait for the reader

/**
 * Runs a child that prints LINES lines, keeps a timer pending, and ends with exitAfterOutput(3).
 * Its stdout is non-blocking, so lines that do not fit take the fallback through process.stdout.
 */
function child(): ReturnType<typeof spawn> {
  const script = `
    const { printLine, exitAfterOutput } = await import(${JSON.stringify(MODULE)});
    void process.stdout.fd; // opening process.stdout makes fd 1 non-blocking: a full pipe says EAGAIN
    setTimeout(() => {}, 60_000); // would keep Node running: exitAfterOutput must not wait for it
    for (let i = 0; i < ${LINES}; i++) printLine('line ' + i + ' ' + 'x'.repeat(60));
    await exitAfterOutput(3);`;
  return spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

function exited(proc: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
}

test('every line reaches a slow reader before the exit, with the exit code given', async () => {
  const proc = child();
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const chunks: Buffer[] = [];
  proc.stdout?.pause(); // let the pipe fill: the child's writes must wait, not drop
  setTimeout(() => {
    proc.stdout?.on('data', (d: Buffer) => chunks.push(d));
    proc.stdout?.resume();
  }, 300);
  const { code, signal } = await exited(proc);
  assert.equal(stderr, '');
  assert.equal(signal, null, 'ended by itself, not by the test timeout');
  assert.equal(code, 3);
  const expected = Array.from({ length: LINES }, (_, i) => `line ${i} ${'x'.repeat(60)}`);
  assert.deepEqual(Buffer.concat(chunks).toString().split('\n'), [...expected, ''], 'every line, in order, each ending in a newline');
});

test('a closed stdout is not an error (as with console.log): the exit code is still the one given', async () => {
  const proc = child();
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdout?.destroy();
  const { code, signal } = await exited(proc);
  assert.equal(signal, null);
  assert.equal(stderr, '');
  assert.equal(code, 3);
});
