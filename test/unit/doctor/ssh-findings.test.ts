// Doctor on a server with SSH-key users: the server key (present, private, parses), each key's
// type, size and fingerprint, a bad line of an ssh_keys_file, and no user secret on the server.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatAuthorizedKey, formatServerKeyFile, formatServerPublicKey, newServerKey } from '../../../src/protocol/ssh/index.js';
import { loadConfig } from '../../../src/server/config/config.js';
import { sshFindings } from '../../../src/doctor/ssh-findings.js';
import { KEYS, SERVER_PRIVATE, SERVER_PUBLIC } from '../protocol/ssh/fixtures.js';

const [ED, , RSA] = KEYS as [(typeof KEYS)[0], (typeof KEYS)[0], (typeof KEYS)[0]];
const line = (k: (typeof KEYS)[0]): string => formatAuthorizedKey({ ...k.pub, comment: 'laptop' });

function site(file: string, opts: { serverKeyMode?: number; keyFileFor?: string } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-doctor-ssh-'));
  writeFileSync(join(dir, 'server.key'), formatServerKeyFile(newServerKey(SERVER_PRIVATE, '2026-12-01T00:00:00Z')));
  chmodSync(join(dir, 'server.key'), opts.serverKeyMode ?? 0o600);
  writeFileSync(join(dir, 'alice_keys'), file);
  if (opts.keyFileFor !== undefined) {
    mkdirSync(join(dir, 'keys'), { mode: 0o700 });
    writeFileSync(join(dir, 'keys', `${opts.keyFileFor}.key`), 'whatever', { mode: 0o600 });
  }
  writeFileSync(join(dir, 'server.toml'), `[users.alice]\nports = ["tcp/22"]\nssh_keys = ["${line(ED)}"]\nssh_keys_file = "alice_keys"\n`);
  return join(dir, 'server.toml');
}

test('a good setup: the server key with its public key, each key, and no secret of the user on the server', () => {
  const found = sshFindings(loadConfig(site(`${line(RSA)}\n`)));
  assert.deepEqual(
    found.map((f) => f.status),
    ['ok', 'ok', 'ok', 'ok'],
  );
  assert.match(
    found[0]!.what,
    new RegExp(`mode 600\\); clients' --server-key is ${formatServerPublicKey(SERVER_PUBLIC).replace(/[+/]/g, '\\$&')}`),
  );
  assert.match(found[1]!.what, new RegExp(`user alice: SSH key ssh-ed25519 ${ED.pub.fingerprint.replace(/[+/]/g, '\\$&')} \\(laptop\\)`));
  assert.match(found[2]!.what, /user alice: SSH key RSA 2048 bits SHA256:/);
  assert.match(found[3]!.what, /no secret of alice's is on this server/);
});

test('failures and warnings: server key readable by others, a bad keys file line, a leftover secret key file', () => {
  const open = sshFindings(loadConfig(site(`${line(RSA)}\n`, { serverKeyMode: 0o644 })));
  assert.equal(open[0]?.status, 'fail');
  assert.match(open[0].what, /has mode 644, which lets others read the secret/);
  const bad = sshFindings(loadConfig(site(`no-pty ${line(RSA)}\n`)));
  assert.ok(bad.some((f) => f.status === 'fail' && /alice_keys line 1: options before the key type/.test(f.what)));
  const both = sshFindings(loadConfig(site(`${line(RSA)}\n`, { keyFileFor: 'alice' })));
  assert.ok(both.some((f) => f.status === 'warn' && /also has knockspa key file/.test(f.what)));
});
