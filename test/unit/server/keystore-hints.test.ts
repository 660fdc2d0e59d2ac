// Key hints name the server id (a key made without it is wrong-server), and `server --check`
// (wrongServer: 'error') fails on a key bound to another server id.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatKeyFile } from '../../../src/protocol/keyfile.js';
import { newUserKey } from '../../../src/protocol/keys.js';
import type { ServerConfig } from '../../../src/server/config/config.js';
import { loadKeys } from '../../../src/server/config/keystore.js';
import { ConfigError } from '../../../src/shared/errors.js';

let seed = 7;
const random = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => (seed = (seed * 48271) % 2147483647) & 0xff);

function config(keyServerId: string | null): ServerConfig {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-hints-'));
  const keysDir = join(dir, 'keys');
  mkdirSync(keysDir);
  if (keyServerId !== null) {
    const key = newUserKey({ user: 'alice', serverId: keyServerId, created: '2026-11-22T00:00:00Z', random });
    writeFileSync(join(keysDir, 'alice.key'), formatKeyFile(key), { mode: 0o600 });
  }
  // Only what loadKeys reads.
  return {
    file: join(dir, 'server.toml'),
    serverId: 'srv.test',
    keysDir,
    users: new Map([['alice', { name: 'alice', ports: [], maxDurationSec: 300, requireIp: false, format: 'knockspa' }]]),
    fwknopKeys: new Map(),
    sshUsers: new Map(),
  } as unknown as ServerConfig;
}

const configError = (pattern: RegExp) => (err: unknown) => err instanceof ConfigError && pattern.test(err.message);

test('a missing key file: the keygen hint includes --server-id', () => {
  assert.throws(() => loadKeys(config(null)), configError(/knockspa keygen --user alice --server-id srv\.test --out /));
});

test('a key bound to another server id: a warning for the daemon, an error naming the fix for --check', () => {
  assert.match(loadKeys(config('other.server')).warnings.join('\n'), /bound to server id "other\.server"/);
  assert.throws(
    () => loadKeys(config('other.server'), { wrongServer: 'error' }),
    configError(/bound to server id "other\.server" but server_id is "srv\.test".*keygen --user alice --rotate --server-id srv\.test/),
  );
  assert.equal(loadKeys(config('srv.test'), { wrongServer: 'error' }).warnings.length, 0, 'and the right key passes');
});
