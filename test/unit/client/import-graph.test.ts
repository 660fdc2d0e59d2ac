// What each command loads. The client is one bundle (dist/src/knockspa-cli.cjs) holding no server
// code, which the command (dist/src/knockspa.cjs) runs from its code cache for the client's commands;
// they load no other file of ours, no pino, no pcap, and a knock no node:crypto (start-up time).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const HERE = dirname(fileURLToPath(import.meta.url));
const COMMAND = resolve(HERE, '../../../src/knockspa.cjs');
const BUNDLE = resolve(HERE, '../../../src/knockspa-cli.cjs');
const LOADER = resolve(HERE, '../../../src/code-cache.cjs');
const META = resolve(HERE, '../../../knockspa.cjs.meta.json');
const TRACE = resolve(HERE, '../../support/load-trace.js');
const BUILTIN_TRACE = resolve(HERE, '../../support/builtin-trace.cjs');
const OURS = /\/dist\/src\//;
const PINO_PCAP = /\/node_modules\/(pino|pcap)\//;

interface Loads {
  /** Files (paths) loaded, ES modules and CommonJS. */
  readonly files: string[];
  /** Node builtins loaded, e.g. "crypto", "dns/promises". */
  readonly builtins: string[];
  readonly stdout: string;
}

function loads(args: string[]): Promise<Loads> {
  const env = { PATH: process.env.PATH, XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'knockspa-xdg-')) };
  return new Promise((done) => {
    execFile(process.execPath, ['--import', TRACE, COMMAND, ...args], { env, timeout: 20_000 }, (_err, stdout, stderr) => {
      const lines = stderr.split('\n');
      const files = lines.filter((l) => l.startsWith('LOAD file://')).map((l) => fileURLToPath(l.slice('LOAD '.length)));
      const builtins = lines.filter((l) => l.startsWith('BUILTIN ')).map((l) => l.slice('BUILTIN '.length));
      done({ files: [...new Set(files)], builtins, stdout });
    });
  });
}

/** The node builtins `node ...args` loads, traced without ES module hooks (those load net and the streams). */
function builtinsOf(args: string[]): Promise<{ builtins: string[]; stdout: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--require', BUILTIN_TRACE, ...args], { env: { PATH: process.env.PATH }, timeout: 20_000 }, (_err, stdout, stderr) => {
      const builtins = stderr.split('\n').filter((l) => l.startsWith('BUILTIN ')).map((l) => l.slice('BUILTIN '.length));
      done({ builtins, stdout });
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

test('open, close, connect and keygen load no file of ours but the command, which holds its cache loader (the bundle runs from its code cache), and no pino or pcap', async () => {
  const key = await keyFile();
  const commands = [
    ['open', '22', '--host', '127.0.0.1', '--spa-port', '9', '--key', key],
    ['close', '22', '--host', '127.0.0.1', '--spa-port', '9', '--key', key],
    ['connect', '127.0.0.1', '9', '--key', '/nonexistent.key'],
    ['keygen', '--user', 'carol', '--out', mkdtempSync(join(tmpdir(), 'knockspa-keys-')), '--server-id', 'srv.test'],
  ];
  for (const args of commands) {
    const { files } = await loads(args);
    assert.deepEqual(files.filter((f) => OURS.test(f)).sort(), [COMMAND], `the command, nothing else (${args.join(' ')})`);
    assert.deepEqual(files.filter((f) => PINO_PCAP.test(f)), [], args.join(' '));
  }
});

test('a knock to an address loads neither node:crypto nor a resolver; a host name does load one', async () => {
  const key = await keyFile();
  const open = await loads(['open', '22', '--host', '127.0.0.1', '--spa-port', '9', '--key', key]);
  assert.match(open.stdout, /^sent open tcp\/22 /, 'the knock was sent');
  assert.ok(open.builtins.includes('vm'), 'the trace lists builtins (vm: the code cache)');
  assert.deepEqual(open.builtins.filter((b) => ['crypto', 'dns', 'dns/promises'].includes(b)), []);
  const byName = await loads(['open', '22', '--host', 'localhost', '--spa-port', '9', '--key', key]);
  assert.ok(byName.builtins.includes('dns/promises'), 'and the check can fail: a name is resolved');
  const keygen = await loads(['keygen', '--user', 'dave', '--out', mkdtempSync(join(tmpdir(), 'knockspa-keys-')), '--server-id', 'srv.test']);
  assert.ok(keygen.builtins.includes('crypto'), 'keygen makes its secrets with node:crypto');
});

test('server loads the server code beside the bundle; doctor --client the doctor\'s, but no server code, pino or pcap', async () => {
  const server = await loads(['server', '--config', '/nonexistent.toml']);
  assert.ok(server.files.some((f) => f.includes('/dist/src/server/')), 'the check can fail: the server command does load server code');
  assert.ok(server.files.includes(BUNDLE), 'other commands require the bundle (they import(), which code from a cache cannot)');
  const doctor = await loads(['doctor', '--client', '--key', '/nonexistent.key']);
  assert.ok(doctor.files.some((f) => f.includes('/dist/src/doctor/')), 'doctor is outside the bundle');
  assert.deepEqual(doctor.files.filter((f) => /\/dist\/src\/server\//.test(f) || PINO_PCAP.test(f)), []);
});

test('the bundle holds the client and no server or doctor code (esbuild\'s list of what went in)', () => {
  const meta = JSON.parse(readFileSync(META, 'utf8')) as { outputs: Record<string, { inputs: Record<string, unknown> }> };
  const inputs = Object.keys(meta.outputs['dist/src/knockspa-cli.cjs']?.inputs ?? {});
  assert.ok(inputs.includes('src/client/knock.ts'), 'the list is the bundle\'s');
  assert.deepEqual(inputs.filter((f) => /^src\/(server|doctor)\/|node_modules\/(pino|pcap)\//.test(f)), []);
});

/**
 * `compileWithCodeCache(BUNDLE, cacheFile).cacheRejected` in a fresh Node: within one process V8
 * (Node 24 and later) takes a source it compiled before from its own compilation cache and never
 * reads the cached data, so a bad cache would pass as accepted.
 */
function cacheRejectedInChild(cacheFile?: string): Promise<boolean> {
  const script = `process.stdout.write(String(require(${JSON.stringify(LOADER)}).compileWithCodeCache(...JSON.parse(process.argv[1])).cacheRejected))`;
  const args = JSON.stringify(cacheFile === undefined ? [BUNDLE] : [BUNDLE, cacheFile]);
  return new Promise((done, fail) => {
    execFile(process.execPath, ['-e', script, args], { timeout: 20_000 }, (err, stdout, stderr) =>
      err === null ? done(stdout === 'true') : fail(new Error(`child: ${err.message} ${stderr}`)),
    );
  });
}

test('the code cache made at build time is one this Node accepts; a cut-off one is refused', async () => {
  assert.equal(await cacheRejectedInChild(`${BUNDLE}.cache`), false);
  const cut = join(mkdtempSync(join(tmpdir(), 'knockspa-cache-')), 'cut.cache');
  writeFileSync(cut, readFileSync(`${BUNDLE}.cache`).subarray(0, 100_000));
  assert.equal(await cacheRejectedInChild(cut), true);
  assert.equal(await cacheRejectedInChild(), true, 'no cache');
});

/** What dgram's first send loads (through cluster), and commander and node:net when they load. */
const SEND_STACK = ['dgram', 'cluster', 'child_process', 'net', 'stream'];

test('on Node 20 open and close load none of dgram, cluster, child_process, net or the streams; one dgram send loads them all', { skip: !process.versions.node.startsWith('20.') && 'the UDP handle is used on Node 20 only (src/client/udp-send.ts)' }, async () => {
  const dgramSend = await builtinsOf(['-e', "const s = require('node:dgram').createSocket('udp4'); s.send(Buffer.alloc(1), 9, '127.0.0.1', () => s.close());"]);
  assert.deepEqual(SEND_STACK.filter((b) => !dgramSend.builtins.includes(b)), [], 'the check can fail: a dgram send loads every one of them');
  const key = await keyFile();
  for (const action of ['open', 'close']) {
    const knock = await builtinsOf([COMMAND, action, '22', '--host', '127.0.0.1', '--spa-port', '9', '--key', key]);
    assert.match(knock.stdout, new RegExp(`^sent ${action} tcp/22 `), 'the knock was sent');
    assert.deepEqual(knock.builtins.filter((b) => SEND_STACK.includes(b)), [], action);
  }
});

test('open does not load node:module: the command hands the bundle its own require (createRequire would load it)', async () => {
  const created = await builtinsOf(['-e', "require('node:module').createRequire(__filename)"]);
  assert.ok(created.builtins.includes('module'), 'the check can fail: createRequire loads node:module');
  const knock = await builtinsOf([COMMAND, 'open', '22', '--host', '127.0.0.1', '--spa-port', '9', '--key', await keyFile()]);
  assert.match(knock.stdout, /^sent open tcp\/22 /, 'the knock was sent');
  assert.equal(knock.builtins.includes('module'), false);
});
