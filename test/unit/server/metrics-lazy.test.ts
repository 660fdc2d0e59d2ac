// Metrics off (no [metrics] table): the daemon's start-up loads no prom-client, so it is what it
// was. With [metrics] it does (the check can fail). A real daemon (firewall "dry-run", loopback
// port, no users) started with the module trace and stopped with SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const HERE = dirname(fileURLToPath(import.meta.url));
const COMMAND = resolve(HERE, '../../../src/knockspa.cjs');
const TRACE = resolve(HERE, '../../support/load-trace.js');
const PROM = /\/node_modules\/prom-client\//;

/** A high port, different per run (udp for the SPA port, tcp for the metrics: loopback only). */
const freePortGuess = (): number => 20_000 + Math.floor(Math.random() * 40_000);

/** Starts the daemon on `config`, waits for its start line, stops it; returns what it loaded. */
function daemonLoads(dir: string, metrics: string): Promise<{ files: string[]; stdout: string }> {
  const config = join(dir, 'server.toml');
  writeFileSync(
    config,
    `firewall = "dry-run"\naddress = "127.0.0.1"\nport = ${freePortGuess()}\nserver_id = "srv.test"\nstate_dir = "state"\nkeys_dir = "keys"\n${metrics}`,
  );
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', TRACE, COMMAND, 'server', '--config', config], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.includes('"event":"start"')) child.kill('SIGTERM');
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', fail);
    child.on('close', () => {
      clearTimeout(timer);
      const files = stderr
        .split('\n')
        .filter((l) => l.startsWith('LOAD file://'))
        .map((l) => fileURLToPath(l.slice('LOAD '.length)));
      done({ files, stdout });
    });
  });
}

test('the daemon loads prom-client only when [metrics] is configured', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-lazy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const off = await daemonLoads(dir, '');
  assert.match(off.stdout, /"event":"start"/, off.stdout);
  assert.match(off.stdout, /"event":"stop"/, 'stopped cleanly');
  assert.ok(off.files.length > 10, 'the trace sees the loads');
  assert.deepEqual(
    off.files.filter((f) => PROM.test(f)),
    [],
  );
  const on = await daemonLoads(dir, `\n[metrics]\nlisten = "127.0.0.1:${freePortGuess()}"\n`);
  assert.match(on.stdout, /"event":"start"/, on.stdout);
  assert.ok(
    on.files.some((f) => PROM.test(f)),
    'loaded with [metrics]',
  );
});
