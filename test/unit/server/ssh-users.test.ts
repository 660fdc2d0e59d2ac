// Users who knock with SSH keys: server.toml's server_key / ssh_keys / ssh_keys_file / require_touch
// validated like packets (each error names the file, the key and what was expected), the keyring
// built from them, SSH knocks told apart from v1 and fwknop on the one port, and the kernel screen
// letting their lengths, magic and candidate ids through.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatAuthorizedKey, formatServerKeyFile, newServerKey } from '../../../src/protocol/ssh/index.js';
import { ReplayGuard } from '../../../src/protocol/replay.js';
import { Keyring } from '../../../src/protocol/keyring.js';
import { loadConfig, type ServerConfig } from '../../../src/server/config/config.js';
import { loadSshKeys } from '../../../src/server/config/ssh-users.js';
import { packetFormats } from '../../../src/server/intake/formats.js';
import { screenScript } from '../../../src/server/firewall/nft-screen.js';
import { captureFilter, kernelScreen } from '../../../src/server/firewall/screen.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { KEYS, NOW, SERVER_PRIVATE, knock } from '../protocol/ssh/fixtures.js';

const [ED, ECDSA, RSA, SK_ED] = KEYS as [(typeof KEYS)[0], (typeof KEYS)[0], (typeof KEYS)[0], (typeof KEYS)[0]];
const line = (k: (typeof KEYS)[0]): string => formatAuthorizedKey({ ...k.pub, comment: 'test' });

function setup(users: string, opts: { keyMode?: number; files?: Record<string, string>; serverKey?: string | null } = {}): ServerConfig {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-sshusers-'));
  if (opts.serverKey !== null) {
    writeFileSync(join(dir, 'server.key'), opts.serverKey ?? formatServerKeyFile(newServerKey(SERVER_PRIVATE, '2026-12-01T00:00:00Z')));
    chmodSync(join(dir, 'server.key'), opts.keyMode ?? 0o600);
  }
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text, { mode: 0o644 });
  writeFileSync(join(dir, 'server.toml'), `server_id = "spa.test"\n${users}`);
  return loadConfig(join(dir, 'server.toml'));
}

const fails = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof ConfigError, String(err));
  assert.match(err.message, pattern);
  return true;
};

test('inline keys and a keys file build one keyring; the knock verifies with format ssh and the fingerprint', () => {
  const config = setup(`[users.alice]\nports = ["tcp/22"]\nssh_keys = ["${line(ED)}"]\nssh_keys_file = "bob_keys"\n`, {
    files: { bob_keys: `# alice's other keys\n\n${line(ECDSA)}\n${line(RSA)}\n` },
  });
  const ssh = loadSshKeys(config);
  assert.ok(ssh !== null);
  assert.equal(ssh.keyring.size, 3);
  const formats = packetFormats(config, new Keyring(), new ReplayGuard(1000), ssh);
  for (const [i, key] of [ED, ECDSA, RSA].entries()) {
    const result = formats.verify(knock(key, { n: 100 + i }), NOW);
    assert.equal(typeof result, 'object', String(result));
    const k = result as { format: string; fingerprint: string; user: string };
    assert.deepEqual([k.format, k.fingerprint, k.user], ['ssh', key.pub.fingerprint, 'alice']);
  }
  assert.equal(formats.verify(knock(ED, { n: 100 }), NOW), 'replay');
  assert.equal(formats.verify(knock(SK_ED), NOW), 'unknown-key', 'a key not configured');
});

test('no SSH users: server_key is not read, and 0xCC packets are refused by the v1 screen', () => {
  const config = setup('[users.alice]\nports = ["tcp/22"]\nformat = "knockspa"\n', { serverKey: null });
  assert.equal(loadSshKeys(config), null);
  const formats = packetFormats(config, new Keyring(), new ReplayGuard(1000), null);
  assert.equal(formats.verify(knock(ED), NOW), 'bad-length');
});

test('require_touch = false relaxes a security key; true (the default) refuses a signature without a touch', () => {
  const users = (touch: string) => `[users.alice]\nports = ["tcp/22"]\nssh_keys = ["${line(SK_ED)}"]\n${touch}`;
  for (const [touch, expected] of [
    ['', 'touch-required'],
    ['require_touch = false\n', 'object'],
  ] as const) {
    const config = setup(users(touch));
    const formats = packetFormats(config, new Keyring(), new ReplayGuard(1000), loadSshKeys(config));
    const r = formats.verify(knock(SK_ED, { flags: 0 }), NOW);
    assert.equal(typeof r === 'object' ? 'object' : r, expected);
  }
});

test('config errors name the file, the key and what was expected', () => {
  const u = '[users.alice]\nports = ["tcp/22"]\n';
  assert.throws(
    () => setup(`${u}ssh_keys = ["from=\\"10.0.0.1\\" ${line(ED)}"]\n`),
    fails(/users\.alice\.ssh_keys\[0\]: options before the key type/),
  );
  assert.throws(() => setup(`${u}ssh_keys = "${line(ED)}"\n`), fails(/users\.alice\.ssh_keys: expected an array of public keys/));
  assert.throws(() => setup(`${u}ssh_keys = ["ssh-dss AAAA"]\n`), fails(/ssh_keys\[0\]: key type "ssh-dss" is not supported/));
  assert.throws(() => setup(`${u}require_touch = false\n`), fails(/users\.alice\.require_touch: only with ssh_keys or ssh_keys_file/));
  assert.throws(
    () => loadSshKeys(setup(`${u}ssh_keys_file = "k"\n`, { files: { k: `${line(ED)}\ncommand="/bin/sh" ${line(ECDSA)}\n` } })),
    fails(/users\.alice\.ssh_keys_file: .*k line 2: options before the key type .* are refused/),
  );
  assert.throws(
    () => loadSshKeys(setup(`${u}ssh_keys_file = "missing"\n`)),
    fails(/ssh_keys_file: expected an authorized_keys-format file at .*missing \(ENOENT\)/),
  );
  assert.throws(
    () => loadSshKeys(setup(`${u}ssh_keys = ["${line(ED)}"]\n[users.bob]\nports = ["tcp/22"]\nssh_keys = ["${line(ED)}"]\n`)),
    fails(/users\.bob: key SHA256:\S+ of user bob is already the key of user alice/),
  );
});

test('the server key: missing, readable by others, edited: each a ConfigError on server_key with the fix', () => {
  const u = `[users.alice]\nports = ["tcp/22"]\nssh_keys = ["${line(ED)}"]\n`;
  assert.throws(
    () => loadSshKeys(setup(u, { serverKey: null })),
    fails(/server_key: expected the server key file .*server\.key \(ENOENT\); make it with: knockspa keygen --server --out/),
  );
  assert.throws(
    () => loadSshKeys(setup(u, { keyMode: 0o644 })),
    fails(/server_key: server key .* has mode 644, which lets others read the secret; run: chmod 600/),
  );
  const edited = formatServerKeyFile(newServerKey(SERVER_PRIVATE, '2026-12-01T00:00:00Z')).replace(/private-key: ../, 'private-key: 00');
  assert.throws(() => loadSshKeys(setup(u, { serverKey: edited })), fails(/server_key: .*public-key: does not match private-key/));
  assert.throws(
    () => loadSshKeys(setup(u, { serverKey: 'knockspa-key: 1\n' })),
    fails(/server_key: .*line 1: expected "knockspa-server-key: 1"/),
  );
  const text = setup(u, { serverKey: null });
  try {
    loadSshKeys(text);
  } catch (err) {
    assert.doesNotMatch((err as Error).message, /[0-9a-f]{64}/, 'no private key in a message');
  }
});

test('kernel screen: SSH lengths, magic 0xcc and candidate ids in the one key id set', () => {
  const s = kernelScreen(62201, ['0102030405060708'], false, [395, 202, 202]);
  assert.deepEqual(
    s.shapes.filter((shape) => shape.format === 'ssh'),
    [
      { format: 'ssh', min: 395, max: 395, magic: 0xcc, keyed: true },
      { format: 'ssh', min: 202, max: 202, magic: 0xcc, keyed: true },
    ],
  );
  const rules = screenScript(s)
    .split('\n')
    .filter((l) => l.startsWith('add rule'));
  assert.deepEqual(rules, [
    'add rule inet knockspa screen udp dport 62201 udp length != { 154, 210, 403 } counter name "screen_length" drop',
    'add rule inet knockspa screen udp dport 62201 udp length 154 @th,64,8 != 0xcb counter name "screen_magic" drop',
    'add rule inet knockspa screen udp dport 62201 udp length 403 @th,64,8 != 0xcc counter name "screen_magic" drop',
    'add rule inet knockspa screen udp dport 62201 udp length 210 @th,64,8 != 0xcc counter name "screen_magic" drop',
    'add rule inet knockspa screen udp dport 62201 udp length 154 @th,64,8 0xcb @th,80,64 != @key_ids counter name "screen_key_id" drop',
    'add rule inet knockspa screen udp dport 62201 udp length { 403, 210 } @th,64,8 0xcc @th,80,64 != @key_ids counter name "screen_key_id" drop',
  ]);
  // With fwknop users, SSH lengths inside fwknop's range: only a 0xCC packet must have a known id.
  const both = screenScript(kernelScreen(62201, [], true, [202, 1163]))
    .split('\n')
    .filter((l) => l.startsWith('add rule'));
  assert.ok(
    both.includes(
      'add rule inet knockspa screen udp dport 62201 udp length { 210, 1171 } @th,64,8 0xcc @th,80,64 != @key_ids counter name "screen_key_id" drop',
    ),
  );
  assert.ok(!both.some((l) => l.includes('udp length 210 @th,64,8 != 0xcc')), 'a fwknop packet may be 202 bytes long: no magic test there');
  assert.ok(
    both.includes('add rule inet knockspa screen udp dport 62201 udp length 1171 @th,64,8 != 0xcc counter name "screen_magic" drop'),
  );
  // pcap's filter is set at start: every SSH length passes with the magic.
  assert.match(captureFilter(62201, kernelScreen(62201, [], false, 'any')), /udp\[4:2\] >= 210 and udp\[4:2\] <= 1171 and udp\[8\] = 0xcc/);
});
