// Doctor, fwknop part: a config holding fwknop keys must be private; without fwknop users, nothing to say; no key-file findings for fwknop-only configs.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fwknopFindings } from '../../../src/doctor/fwknop-findings.js';
import { keyFindings } from '../../../src/doctor/key-findings.js';
import { loadConfig } from '../../../src/server/config/config.js';

function config(users: string, mode: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-doctor-fwknop-'));
  const file = join(dir, 'server.toml');
  writeFileSync(file, `server_id = "srv.test"\nkeys_dir = "no-such-dir"\n${users}`);
  chmodSync(file, mode);
  return file;
}

const CAROL = `[users.carol]\nports = ["22"]\nformat = "fwknop"\nfwknop_key_base64 = "${Buffer.alloc(32, 1).toString('base64')}"\nfwknop_hmac_key_base64 = "${Buffer.alloc(64, 2).toString('base64')}"\n`;

test('fwknop users: ok at mode 600, fail with the chmod at 644; key files are not asked for', () => {
  const file = config(CAROL, 0o600);
  const cfg = loadConfig(file);
  assert.deepEqual(
    fwknopFindings(cfg).map((f) => f.status),
    ['ok'],
  );
  assert.deepEqual(keyFindings(cfg), [], 'no keys_dir or key file findings for a config of fwknop users only');
  chmodSync(file, 0o644);
  const [finding] = fwknopFindings(cfg);
  assert.equal(finding?.status, 'fail');
  assert.match(finding?.what ?? '', /holds fwknop keys but has mode 644/);
  assert.match(finding?.fix ?? '', new RegExp(`chmod 600 ${file}`));
});

test('no fwknop users: no fwknop findings', () => {
  assert.deepEqual(fwknopFindings(loadConfig(config('[users.alice]\nports = ["22"]\n', 0o644))), []);
});
