// Key loading on the server: permissions, user mismatch, missing files, duplicate ids, server-id warnings, rotation.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatKeyFile } from '../../../src/protocol/keyfile.js';
import { newUserKey, type UserKey } from '../../../src/protocol/keys.js';
import type { ServerConfig, UserPolicy } from '../../../src/server/config/config.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { TableReader } from '../../../src/server/config/table-reader.js';
import { dryRunBackend } from '../../../src/server/firewall/dry-run.js';
import { keyFileOwner, loadKeys, MAX_KEY_FILE_BYTES, userKeyFiles } from '../../../src/server/config/keystore.js';

let seed = 1;
const random = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => (seed = (seed * 48271) % 2147483647) & 0xff);

function setup(users: string[], keys: Record<string, { key: UserKey; mode?: number }>): ServerConfig {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-keys-'));
  const keysDir = join(dir, 'keys');
  mkdirSync(keysDir);
  for (const [file, { key, mode }] of Object.entries(keys)) {
    writeFileSync(join(keysDir, file), formatKeyFile(key), { mode: 0o600 });
    if (mode !== undefined) chmodSync(join(keysDir, file), mode);
  }
  const policy = (name: string): UserPolicy => ({
    name,
    ports: [{ proto: 'tcp', port: 22 }],
    maxDurationSec: 300,
    requireIp: false,
    format: 'knockspa',
  });
  return {
    file: join(dir, 'server.toml'),
    listen: 'udp',
    address: '0.0.0.0',
    interface: undefined,
    port: 62201,
    firewall: 'dry-run',
    firewallSettings: { ...dryRunBackend.choose(new TableReader('server.toml', '', {}, [])), sweepIntervalSec: 30 },
    serverId: 'srv.test',
    keysDir,
    stateDir: join(dir, 'state'),
    maxSkewSec: 30,
    defaultDurationSec: 30,
    replayCapacity: 1000,
    allowLinkLocal: false,
    kernelScreen: true,
    serverKeyFile: join(dir, 'server.key'),
    sshUsers: new Map(),
    users: new Map(users.map((u) => [u, policy(u)])),
    fwknopKeys: new Map(),
  };
}

const key = (user: string, serverId = 'srv.test'): UserKey => newUserKey({ user, serverId, created: '2026-11-22T00:00:00Z', random });

function expectConfigError(config: ServerConfig, key: string, pattern: RegExp): void {
  assert.throws(
    () => loadKeys(config),
    (err: unknown) => err instanceof ConfigError && err.key === key && pattern.test(err.message),
  );
}

test('loads every configured user into the keyring', () => {
  const loaded = loadKeys(setup(['alice', 'bob'], { 'alice.key': { key: key('alice') }, 'bob.key': { key: key('bob') } }));
  assert.equal([...loaded.keyring.entries()].length, 2);
  assert.deepEqual(loaded.warnings, []);
});

test('a group- or world-readable key file is refused with the chmod to run', () => {
  for (const mode of [0o640, 0o644, 0o604, 0o660]) {
    const config = setup(['alice'], { 'alice.key': { key: key('alice'), mode } });
    expectConfigError(
      config,
      'users.alice',
      new RegExp(`has mode ${mode.toString(8)}.*run: chmod 600 ${join(config.keysDir, 'alice.key')}`),
    );
  }
});

test('a missing key file says how to make one', () => {
  expectConfigError(setup(['alice'], {}), 'users.alice', /alice\.key \(ENOENT.*\); make it with: knockspa keygen --user alice/);
});

test('a key file for another user is refused', () => {
  expectConfigError(setup(['alice'], { 'alice.key': { key: key('bob') } }), 'users.alice', /belongs to user "bob", expected "alice"/);
});

test('a malformed key file names its line', () => {
  const config = setup(['alice'], {});
  writeFileSync(join(config.keysDir, 'alice.key'), 'knockspa-key: 1\nuser: alice\nkey-id: zz\n', { mode: 0o600 });
  expectConfigError(config, 'users.alice', /alice\.key: line 3: key-id: expected 16 lowercase hex digits/);
});

test('two users sharing one key id are refused', () => {
  const a = key('alice');
  const b = { ...key('bob'), keyId: a.keyId };
  expectConfigError(setup(['alice', 'bob'], { 'alice.key': { key: a }, 'bob.key': { key: b } }), 'users.bob', /already in use/);
});

test('a key bound to another server id loads, with a warning', () => {
  const loaded = loadKeys(setup(['alice'], { 'alice.key': { key: key('alice', 'other.server') } }));
  assert.equal([...loaded.keyring.entries()].length, 1);
  assert.match(loaded.warnings[0] ?? '', /bound to server id "other.server" but server_id is "srv.test"/);
});

test('rotation: NAME.key and every NAME.LABEL.key of a user are loaded; other names are not', () => {
  const config = setup(['alice', 'bob'], {
    'alice.key': { key: key('alice') },
    'alice.2026-11-22.key': { key: key('alice') },
    'alice.key.bak': { key: key('alice') },
    'bob.2026-11-22.key': { key: key('bob') },
    'carol.key': { key: key('carol') },
  });
  const loaded = loadKeys(config);
  assert.equal(
    [...loaded.keyring.entries()].length,
    3,
    'two of alice, one of bob (only a rotated file is enough); not the .bak nor unconfigured carol',
  );
  assert.deepEqual([...loaded.keyring.entries()].map((e) => e.user).sort(), ['alice', 'alice', 'bob']);
  assert.deepEqual(userKeyFiles(config).get('alice'), [join(config.keysDir, 'alice.2026-11-22.key'), join(config.keysDir, 'alice.key')]);
});

test('when two user names fit a file name, the longer one owns it', () => {
  assert.equal(keyFileOwner('a.b.key', ['a', 'a.b']), 'a.b');
  assert.equal(keyFileOwner('a.b.2026-11-22.key', ['a', 'a.b']), 'a.b');
  assert.equal(keyFileOwner('a.x.key', ['a', 'a.b']), 'a');
  assert.equal(keyFileOwner('a.key', ['a', 'a.b']), 'a');
  assert.equal(keyFileOwner('ab.key', ['a']), undefined);
  assert.equal(keyFileOwner('a..key', ['a']), undefined, 'an empty label is not a rotation');
  const loaded = loadKeys(
    setup(['a', 'a.b'], { 'a.key': { key: key('a') }, 'a.b.key': { key: key('a.b') }, 'a.b.2.key': { key: key('a.b') } }),
  );
  assert.equal([...loaded.keyring.entries()].length, 3);
});

test("a rotated file holding another user's key is refused", () => {
  expectConfigError(
    setup(['alice'], { 'alice.key': { key: key('alice') }, 'alice.new.key': { key: key('bob') } }),
    'users.alice',
    /alice\.new\.key belongs to user "bob"/,
  );
});

test('on reload a user without any key file is revoked with a warning, not an error', () => {
  const config = setup(['alice', 'bob'], { 'bob.key': { key: key('bob') } });
  expectConfigError(config, 'users.alice', /ENOENT/);
  const loaded = loadKeys(config, { missing: 'revoke' });
  assert.equal([...loaded.keyring.entries()].length, 1);
  assert.deepEqual(
    [...loaded.keyring.entries()].map((e) => e.user),
    ['bob'],
  );
  assert.match(loaded.warnings[0] ?? '', /no key file for user alice .* alice cannot knock/);
});

test('an unreadable keys_dir names the config key', () => {
  const config = { ...setup(['alice'], {}), keysDir: '/nonexistent/knockspa-keys' };
  assert.throws(
    () => loadKeys(config),
    (err: unknown) =>
      err instanceof ConfigError && err.key === 'keys_dir' && /cannot read \/nonexistent\/knockspa-keys \(ENOENT\)/.test(err.message),
  );
});

test("a key file is the daemon's own regular file: a FIFO, a link, another owner or an oversized file is refused without blocking", () => {
  const config = setup(['alice'], {});
  const file = join(config.keysDir, 'alice.key');
  execFileSync('mkfifo', ['-m', '600', file]);
  expectConfigError(config, 'users.alice', /alice\.key is not a regular file/);
  rmSync(file);
  const real = join(config.keysDir, 'elsewhere');
  writeFileSync(real, formatKeyFile(key('alice')), { mode: 0o600 });
  symlinkSync(real, file);
  expectConfigError(config, 'users.alice', /is a symbolic link/);
  rmSync(file);
  writeFileSync(file, 'x'.repeat(MAX_KEY_FILE_BYTES + 1), { mode: 0o600 });
  expectConfigError(config, 'users.alice', new RegExp(`is ${MAX_KEY_FILE_BYTES + 1} bytes`));
  if (process.geteuid?.() === 0) {
    writeFileSync(file, formatKeyFile(key('alice')), { mode: 0o600 });
    chownSync(file, 65534, 65534);
    expectConfigError(config, 'users.alice', /owned by uid 65534, not by the daemon's user/);
  }
});
