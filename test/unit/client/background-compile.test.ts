// A knock must not make V8 optimize a function on a background thread: a process that exits waits
// for such a compile to finish (Node joins its platform threads), which cost `knockspa open` ~3 ms
// when one HMAC too many made the SHA-256 block function "hot" (src/protocol/keys.ts).
// Not a timing test: it reads V8's own trace of what it decided to optimize. A tripwire, tied to
// Node 20's V8: more work on the knock's path may cross the line, and then should be looked at.
// --trace-opt makes V8 refuse the bundle's code cache (the flags differ), so the bundle is compiled
// from source here; the bytecode and so V8's counting toward "hot" are the same.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const COMMAND = join(ROOT, 'dist/src/knockspa.cjs');
/** V8 marks a function "hot and stable" when its run time earns it an optimizing compile. */
const HOT = /marking .*<JSFunction (\S+) .*reason: hot and stable/g;

function hotFunctions(args: string[]): Promise<{ hot: string[]; stdout: string }> {
  return new Promise((done, fail) => {
    const env = { PATH: process.env.PATH, XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'knockspa-xdg-')) };
    execFile(process.execPath, ['--trace-opt', ...args], { cwd: ROOT, env, timeout: 20_000 }, (err, stdout) => {
      if (err) return fail(err);
      done({ hot: [...stdout.matchAll(HOT)].map((m) => m[1] as string), stdout });
    });
  });
}

test('a knock (8 ports, the longest server id) makes V8 optimize nothing for being hot; ten SHA-256 hashes do', { skip: !process.versions.node.startsWith('20.') && 'V8\'s tiering differs between Node majors; knockspa measures Node 20' }, async () => {
  const tenHashes = await hotFunctions(['--input-type=module', '-e', "import { sha256 } from '@noble/hashes/sha2.js'; for (let i = 0; i < 10; i++) sha256(new Uint8Array(64));"]);
  assert.ok(tenHashes.hot.length > 0, 'the check can fail: ten hashes make the block function hot');

  const keys = mkdtempSync(join(tmpdir(), 'knockspa-keys-'));
  const serverId = `${'s'.repeat(248)}.test`; // 253 characters, the longest there may be
  await hotFunctions([COMMAND, 'keygen', '--user', 'erin', '--out', keys, '--server-id', serverId]);
  const ports = ['22', '23', '24', '25', '26', '27', '28', '29'];
  for (const action of ['open', 'close']) {
    const knock = await hotFunctions([COMMAND, action, ...ports, '--host', '127.0.0.1', '--spa-port', '9', '--key', join(keys, 'erin.key')]);
    assert.match(knock.stdout, new RegExp(`^sent ${action} tcp/22 `, 'm'), 'the knock was sent');
    assert.deepEqual(knock.hot, [], action);
  }
});
