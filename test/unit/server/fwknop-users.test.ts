// fwknop users in server.toml: format = "fwknop" with the keys fwknop --key-gen prints; strict, never echoing a key.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { loadConfig } from '../../../src/server/config/config.js';
import { fwknopKeyring, MAX_FWKNOP_USERS } from '../../../src/server/config/fwknop-users.js';
import { loadKeys } from '../../../src/server/config/keystore.js';
import { assertConfigError } from '../../support/config-error.js';

// Printed by `fwknop --key-gen` (2.6.10).
const KEY = 's1Pz535uH/9qyULXOyJo9fp9iMSRBOrBKxZeaNC03Lw=';
const HMAC = '98XnDinAB4KZ4qfm4Khx+sPrQw04xgPlPpxm+ATQf/aP1DVlk0BAD4FZLFA9IgBYPDzLp5Ebm0jAk4o7vq0rPw==';

function fwknopUser(name: string, key = KEY, hmac = HMAC, extra = ''): string {
  return `[users.${name}]\nports = ["tcp/22"]\nformat = "fwknop"\nfwknop_key_base64 = "${key}"\nfwknop_hmac_key_base64 = "${hmac}"\n${extra}`;
}

function writeConfig(users: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-fwknop-config-'));
  const file = join(dir, 'server.toml');
  writeFileSync(file, `server_id = "srv.test"\nkeys_dir = "keys"\n${users}`, { mode: 0o600 });
  return file;
}

test('a fwknop user loads with its keys, needs no key file, and is not in the knockspa keyring', () => {
  const config = loadConfig(writeConfig(fwknopUser('carol', KEY, HMAC, 'max_duration = 60\n')));
  assert.equal(config.users.get('carol')?.format, 'fwknop');
  assert.equal(config.users.get('carol')?.maxDurationSec, 60);
  const keys = config.fwknopKeys.get('carol');
  assert.deepEqual([keys?.encKey.length, keys?.hmacKey.length], [32, 64]);
  assert.deepEqual(Buffer.from(keys?.encKey ?? []).toString('base64'), KEY);
  // keys_dir does not even exist: a fwknop user needs no key file.
  assert.equal([...loadKeys(config).keyring.entries()].length, 0);
});

test('a config file with fwknop keys that others can read is refused when the keyring is built, with the fix', () => {
  const file = writeConfig(fwknopUser('carol'));
  chmodSync(file, 0o644);
  const config = loadConfig(file);
  assert.throws(
    () => fwknopKeyring(config),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.key === 'users.carol.fwknop_key_base64' &&
      /holds fwknop keys but has mode 644.*run: chmod 600/.test(err.message) &&
      !err.message.includes(KEY),
  );
  chmodSync(file, 0o640);
  assert.throws(() => fwknopKeyring(config), /mode 640/);
  chmodSync(file, 0o600);
  // The keyring holds carol's HMAC key: a tag made with it finds her.
  const tag = hmac(sha256, Buffer.from(HMAC, 'base64'), Uint8Array.of(1, 2, 3));
  assert.equal(fwknopKeyring(config).findByMac(tag, Uint8Array.of(1), Uint8Array.of(2, 3))?.user, 'carol');
});

test('format defaults to "knockspa"; a knockspa user has no fwknop keys', () => {
  const config = loadConfig(writeConfig('[users.alice]\nports = ["22"]\n'));
  assert.equal(config.users.get('alice')?.format, 'knockspa');
  assert.equal(config.fwknopKeys.size, 0);
});

const BAD: ReadonlyArray<{ name: string; users: string; key: string; expected: RegExp; secret?: string }> = [
  {
    name: 'unknown format',
    users: '[users.a]\nports = ["22"]\nformat = "gpg"\n',
    key: 'users.a.format',
    expected: /expected "knockspa" \(a key file\) or "fwknop".*got "gpg"/,
  },
  {
    name: 'fwknop keys on a knockspa user',
    users: `[users.a]\nports = ["22"]\nfwknop_key_base64 = "${KEY}"\n`,
    key: 'users.a.fwknop_key_base64',
    expected: /only with format = "fwknop"/,
    secret: KEY,
  },
  {
    name: 'missing encryption key',
    users: `[users.a]\nports = ["22"]\nformat = "fwknop"\nfwknop_hmac_key_base64 = "${HMAC}"\n`,
    key: 'users.a.fwknop_key_base64',
    expected: /expected the KEY_BASE64 line of fwknop --key-gen .*got nothing/,
  },
  {
    name: 'missing HMAC key',
    users: `[users.a]\nports = ["22"]\nformat = "fwknop"\nfwknop_key_base64 = "${KEY}"\n`,
    key: 'users.a.fwknop_hmac_key_base64',
    expected: /expected the HMAC_KEY_BASE64 line .*got nothing/,
  },
  { name: 'key as a number', users: fwknopUser('a').replace(`"${KEY}"`, '42'), key: 'users.a.fwknop_key_base64', expected: /got 42/ },
  {
    name: 'key not base64',
    users: fwknopUser('a', 'not a key!'),
    key: 'users.a.fwknop_key_base64',
    expected: /not valid base64/,
    secret: 'not a key!',
  },
  {
    name: 'key without its padding',
    users: fwknopUser('a', KEY.slice(0, -1)),
    key: 'users.a.fwknop_key_base64',
    expected: /not valid base64/,
    secret: KEY.slice(0, -1),
  },
  {
    name: 'encryption key too short',
    users: fwknopUser('a', Buffer.alloc(15, 1).toString('base64')),
    key: 'users.a.fwknop_key_base64',
    expected: /16 to 32 bytes; the encryption key has 15 bytes/,
  },
  {
    name: 'encryption key too long',
    users: fwknopUser('a', Buffer.alloc(33, 1).toString('base64')),
    key: 'users.a.fwknop_key_base64',
    expected: /has 33 bytes/,
  },
  {
    name: 'HMAC key too short',
    users: fwknopUser('a', KEY, Buffer.alloc(16, 1).toString('base64')),
    key: 'users.a.fwknop_hmac_key_base64',
    expected: /32 to 128 bytes; the HMAC key has 16 bytes/,
  },
  {
    name: 'the same key twice',
    users: fwknopUser('a', Buffer.alloc(32, 5).toString('base64'), Buffer.alloc(32, 5).toString('base64')),
    key: 'users.a.fwknop_hmac_key_base64',
    expected: /different from fwknop_key_base64/,
  },
  {
    name: 'two users with one HMAC key',
    users: fwknopUser('a') + fwknopUser('b'),
    key: 'users.b.fwknop_hmac_key_base64',
    expected: /users.a has the same one/,
    secret: HMAC,
  },
  {
    name: 'unknown fwknop-ish key',
    users: `${fwknopUser('a')}fwknop_hmac_digest = "sha512"\n`,
    key: 'users.a.fwknop_hmac_digest',
    expected: /unknown key; expected one of ports, max_duration, require_ip, format, fwknop_key_base64, fwknop_hmac_key_base64/,
  },
];

for (const { name, users, key, expected, secret } of BAD) {
  test(`bad fwknop user: ${name}`, () => {
    const file = writeConfig(users);
    const err = assertConfigError(() => loadConfig(file), file, key, expected);
    for (const s of [KEY, HMAC, secret ?? KEY]) assert.ok(!err.message.includes(s), `the message must not contain a key: ${err.message}`);
  });
}

test(`at most ${MAX_FWKNOP_USERS} fwknop users`, () => {
  const users = (n: number): string =>
    Array.from({ length: n }, (_, i) =>
      fwknopUser(
        `u${i}`,
        KEY,
        Buffer.alloc(64, 0)
          .fill(i % 256, 0, 1)
          .fill(Math.floor(i / 256), 1, 2)
          .toString('base64'),
      ),
    ).join('');
  assert.equal(loadConfig(writeConfig(users(MAX_FWKNOP_USERS))).fwknopKeys.size, MAX_FWKNOP_USERS);
  assert.throws(
    () => loadConfig(writeConfig(users(MAX_FWKNOP_USERS + 1))),
    (err: unknown) => err instanceof ConfigError && err.key === 'users' && /at most 256 users with format = "fwknop"/.test(err.message),
  );
});
