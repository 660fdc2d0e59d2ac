// The client's commands load no server code, no pino and no pcap (a light, root-free client).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(HERE, '../../../src/cli.js');
const TRACE = resolve(HERE, '../../support/import-trace-register.js');

function loaded(args: string[]): Promise<string[]> {
  const env = { PATH: process.env.PATH, XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'knockspa-xdg-')) };
  return new Promise((done) => {
    execFile(process.execPath, ['--import', TRACE, CLI, ...args], { env, timeout: 20_000 }, (_err, _stdout, stderr) => {
      done(stderr.split('\n').filter((l) => l.startsWith('LOAD ')).map((l) => l.slice(5)));
    });
  });
}

test('open, close, connect, keygen and doctor --client load no server code, pino or pcap', async () => {
  const commands = [
    ['open', '22', '--host', '127.0.0.1', '--key', '/nonexistent.key'],
    ['close', '22', '--host', '127.0.0.1', '--key', '/nonexistent.key'],
    ['connect', '127.0.0.1', '9', '--key', '/nonexistent.key'],
    ['keygen', '--help'],
    ['doctor', '--client', '--key', '/nonexistent.key'],
  ];
  for (const args of commands) {
    const files = await loaded(args);
    assert.ok(files.some((f) => f.endsWith('/dist/src/cli.js')), `the trace works (${args.join(' ')})`);
    const bad = files.filter((f) => /\/dist\/src\/server\/|\/node_modules\/(pino|pcap)\//.test(f));
    assert.deepEqual(bad, [], args.join(' '));
  }
  const server = await loaded(['server', '--config', '/nonexistent.toml']);
  assert.ok(server.some((f) => f.includes('/dist/src/server/')), 'and the check can fail: the server command does load them');
});

test('each client command loads only its own command module (start-up time is module loading)', async () => {
  const open = await loaded(['open', '22', '--host', '127.0.0.1', '--key', '/nonexistent.key']);
  assert.ok(open.some((f) => f.endsWith('/dist/src/client/knock-command.js')), 'open loads the knock command');
  assert.deepEqual(open.filter((f) => /\/dist\/src\/(client\/(keygen|connect)-command|doctor\/)/.test(f)), [], 'and not keygen, connect or doctor');
});
