// What each command loads. The client is one bundle (dist/src/knockspa-cli.cjs) holding no server
// code, which the command (dist/src/knockspa.cjs) runs; the client's commands load no other file of
// ours, no pino and no pcap.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const HERE = dirname(fileURLToPath(import.meta.url));
const COMMAND = resolve(HERE, '../../../src/knockspa.cjs');
const BUNDLE = resolve(HERE, '../../../src/knockspa-cli.cjs');
const META = resolve(HERE, '../../../knockspa.cjs.meta.json');
const TRACE = resolve(HERE, '../../support/load-trace.js');
const OURS = /\/dist\/src\//;
const PINO_PCAP = /\/node_modules\/(pino|pcap)\//;

interface Loads {
  /** Files (paths) loaded, ES modules and CommonJS. */
  readonly files: string[];
  readonly stdout: string;
}

function loads(args: string[]): Promise<Loads> {
  const env = { PATH: process.env.PATH, XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'knockspa-xdg-')) };
  return new Promise((done) => {
    execFile(process.execPath, ['--import', TRACE, COMMAND, ...args], { env, timeout: 20_000 }, (_err, stdout, stderr) => {
      const files = stderr
        .split('\n')
        .filter((l) => l.startsWith('LOAD file://'))
        .map((l) => fileURLToPath(l.slice('LOAD '.length)));
      done({ files: [...new Set(files)], stdout });
    });
  });
}

/** A key file made by the bundle itself, for knocks that really get sent. */
async function keyFile(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-keys-'));
  const made = await loads(['keygen', '--user', 'bob', '--out', dir, '--server-id', 'srv.test']);
  assert.match(made.stdout, /bob\.key/, 'keygen made a key');
  return join(dir, 'bob.key');
}

test('open, close, connect and keygen load no file of ours but the command and the bundle, and no pino or pcap', async () => {
  const key = await keyFile();
  const commands = [
    ['open', '22', '--host', '127.0.0.1', '--spa-port', '9', '--key', key],
    ['close', '22', '--host', '127.0.0.1', '--spa-port', '9', '--key', key],
    ['connect', '127.0.0.1', '9', '--key', '/nonexistent.key'],
    ['keygen', '--user', 'carol', '--out', mkdtempSync(join(tmpdir(), 'knockspa-keys-')), '--server-id', 'srv.test'],
  ];
  for (const args of commands) {
    const { files } = await loads(args);
    assert.deepEqual(
      files.filter((f) => OURS.test(f)).sort(),
      [BUNDLE, COMMAND].sort(),
      `the command and the bundle, nothing else (${args.join(' ')})`,
    );
    assert.deepEqual(
      files.filter((f) => PINO_PCAP.test(f)),
      [],
      args.join(' '),
    );
  }
});

test("server loads the server code beside the bundle; doctor --client the doctor's, but no server code, pino or pcap", async () => {
  const server = await loads(['server', '--config', '/nonexistent.toml']);
  assert.ok(
    server.files.some((f) => f.includes('/dist/src/server/')),
    'the check can fail: the server command does load server code',
  );
  assert.ok(server.files.includes(BUNDLE), 'the server command is defined in the bundle');
  const doctor = await loads(['doctor', '--client', '--key', '/nonexistent.key']);
  assert.ok(
    doctor.files.some((f) => f.includes('/dist/src/doctor/')),
    'doctor is outside the bundle',
  );
  assert.deepEqual(
    doctor.files.filter((f) => /\/dist\/src\/server\//.test(f) || PINO_PCAP.test(f)),
    [],
  );
});

test("the bundle holds the client and every command's definition, and no server or doctor code (esbuild's list of what went in)", () => {
  const meta = JSON.parse(readFileSync(META, 'utf8')) as { outputs: Record<string, { inputs: Record<string, unknown> }> };
  const inputs = Object.keys(meta.outputs['dist/src/knockspa-cli.cjs']?.inputs ?? {});
  assert.ok(inputs.includes('src/client/knock.ts'), "the list is the bundle's");
  assert.ok(
    inputs.includes('src/commands/server.ts') && inputs.includes('src/commands/doctor.ts'),
    "the server-side commands' definitions are in it",
  );
  assert.deepEqual(
    inputs.filter((f) => /^src\/(server|doctor)\/|node_modules\/(pino|pcap)\//.test(f)),
    [],
  );
});
