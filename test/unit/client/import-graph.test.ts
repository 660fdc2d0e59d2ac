// The client commands load no server code, no pino and no pcap (start-up time is module loading),
// checked on what `knockspa open` and `knockspa keygen` really load.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { PACKET_SIZE } from '../../../src/protocol/constants.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(HERE, '../../../src/cli.js');
const RECORDER = resolve(HERE, '../../support/record-loads.js');
const FORBIDDEN = [/\/src\/server\//, /\/node_modules\/pino\//, /\/node_modules\/pcap\//, /\/node_modules\/(thread-stream|sonic-boom|pino-std-serializers)\//];

function loadedBy(args: string[]): Promise<{ code: number; loaded: string[]; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', RECORDER, CLI, ...args], { timeout: 20_000 }, (err, _stdout, stderr) => {
      const loaded = stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice('LOADED '.length));
      done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, loaded, stderr });
    });
  });
}

function assertClientOnly(loaded: readonly string[], what: string): void {
  assert.ok(loaded.some((u) => u.endsWith('/src/cli.js')), `${what}: the recorder saw the CLI load`);
  for (const pattern of FORBIDDEN) assert.deepEqual(loaded.filter((u) => pattern.test(u)), [], `${what} loads nothing matching ${pattern}`);
}

test('knockspa open sends its knock and loads only client and protocol code', async (t) => {
  const receiver = createSocket('udp4');
  t.after(() => receiver.close());
  await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((r) => receiver.once('message', r));
  const keys = mkdtempSync(join(tmpdir(), 'knockspa-graph-'));
  const keygen = await loadedBy(['keygen', '--user', 'alice', '--server-id', 'srv.test', '--out', keys]);
  assert.equal(keygen.code, 0, keygen.stderr);
  assertClientOnly(keygen.loaded, 'keygen');

  const open = await loadedBy(['open', '22', '--host', '127.0.0.1', '--spa-port', String(receiver.address().port), '--key', join(keys, 'alice.key')]);
  assert.equal(open.code, 0, open.stderr);
  assert.equal((await got).length, PACKET_SIZE, 'the knock was sent');
  assertClientOnly(open.loaded, 'open');
  assert.ok(!open.loaded.some((u) => u.endsWith('/client/keygen-command.js')), 'open does not load keygen');
});

test('the recorder does see the server when the server command runs (the check above can fail)', async () => {
  const r = await loadedBy(['server', '--config', '/nonexistent/knockspa.toml', '--check']);
  assert.notEqual(r.code, 0);
  assert.ok(r.loaded.some((u) => /\/src\/server\//.test(u)), 'server modules loaded');
  assert.ok(r.loaded.some((u) => /\/node_modules\/pino\//.test(u)), 'pino loaded');
});
