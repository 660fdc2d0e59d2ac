// The CLI as a user runs it: exit codes (0 ok, 2 usage/config, 1 other), one-line messages, keygen files, profiles.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as nodeModule from 'node:module';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseKeyFile } from '../../../src/protocol/keyfile.js';

// The command as it ships: the client bundle.
const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/knockspa.cjs');

// No profile file unless a test writes one: XDG_CONFIG_HOME points at an empty directory.
const NO_PROFILES = mkdtempSync(join(tmpdir(), 'knockspa-xdg-'));

function knockspa(args: string[], cwd = tmpdir(), env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd, env: { PATH: process.env.PATH, XDG_CONFIG_HOME: NO_PROFILES, ...env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        done({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
      },
    );
  });
}

test('--help on every command shows an example and exits 0', async () => {
  for (const args of [
    ['--help'],
    ['keygen', '--help'],
    ['open', '--help'],
    ['close', '--help'],
    ['server', '--help'],
    ['grants', '--help'],
    ['help', 'open'],
  ]) {
    const r = await knockspa(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /Example/, args.join(' '));
  }
});

/** Runs the CLI with stdout `closed` (a pipe whose reader is gone before Node starts) or on file descriptor `fd`. */
function withStdout(args: string[], stdout: 'closed' | number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, XDG_CONFIG_HOME: NO_PROFILES },
    stdio: ['ignore', stdout === 'closed' ? 'pipe' : stdout, 'pipe'],
  });
  if (stdout === 'closed') child.stdout?.destroy();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((done) => child.on('close', (code) => done({ code, stderr })));
}

test('help into a pipe the reader has closed (`knockspa open --help | head`) exits 0 without a stack trace; into a full disk, 1 with a line', async () => {
  for (const args of [['--help'], ['open', '--help'], ['--version']])
    assert.deepEqual(await withStdout(args, 'closed'), { code: 0, stderr: '' }, args.join(' '));
  // Only EPIPE is let go: help written to a full disk fails, with one line.
  const full = openSync('/dev/full', 'w');
  const toFull = withStdout(['--help'], full);
  closeSync(full);
  const { code, stderr } = await toFull;
  assert.equal(code, 1);
  assert.match(stderr, /^knockspa: cannot write to stdout: .*ENOSPC/);
});

test('the top-level help lists every command, though a command builds only its own (src/cli.ts)', async () => {
  const help = await knockspa(['--help']);
  for (const name of ['keygen', 'open', 'close', 'connect', 'server', 'grants', 'doctor', 'import-knockd'])
    assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'), name);
  assert.equal((await knockspa(['--version'])).stdout.trim(), '0.1.0');
});

test('keygen writes NAME.key mode 0600, refuses to overwrite without --force, and says what to do next', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cli-'));
  const first = await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test'], dir);
  assert.equal(first.code, 0, first.stderr);
  const file = join(dir, 'keys', 'alice.key');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const key = parseKeyFile(readFileSync(file, 'utf8'));
  assert.equal(key.user, 'alice');
  assert.equal(key.serverId, 'srv.test');
  assert.match(first.stdout, /\[users\.alice\]/);
  assert.match(first.stdout, /knockspa open 22 --host/);
  assert.doesNotMatch(first.stdout, new RegExp(Buffer.from(key.secret).toString('hex')), 'the secret is never printed');

  const again = await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test'], dir);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists; use --force/);
  assert.deepEqual(parseKeyFile(readFileSync(file, 'utf8')).secret, key.secret, 'the old key is untouched');

  const forced = await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test', '--force'], dir);
  assert.equal(forced.code, 0);
  assert.notDeepEqual(parseKeyFile(readFileSync(file, 'utf8')).secret, key.secret);
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test('usage errors exit 2 with a message that says what to do', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cli-'));
  await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test'], dir);
  writeFileSync(
    join(dir, 'knockd.conf'),
    '[openSSH]\nsequence = 7000,8000,9000\ncommand = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT\n',
  );
  const cases: Array<[string[], RegExp]> = [
    [['open', '22'], /which server\? pass --host HOST, or name a profile first/],
    [['open', '0', '--host', '127.0.0.1'], /port "0": expected 22, tcp\/22 or udp\/53/],
    [['open', 'sctp/22', '--host', '127.0.0.1'], /servers\.sctp\/22: no such profile .* or give a port \(22, tcp\/22, udp\/53\)/],
    [['open', '22', '--host', '127.0.0.1', '--allow-ip', '1.2.3'], /--allow-ip: expected one IPv4 or IPv6 address/],
    [['open', '22', '--host', '127.0.0.1', '--allow-ip', '0.0.0.0'], /--allow-ip/],
    [['open', '22', '--host', '127.0.0.1', '--duration', '-5'], /--duration: expected a whole number/],
    [['open', '22', '--host', '127.0.0.1', '--spa-port', '70000'], /--spa-port: expected a whole number from 1 to 65535/],
    [['open', '1', '2', '3', '4', '5', '6', '7', '8', '9', '--host', '127.0.0.1'], /at most 8 ports/],
    [['open', '22', '--host', '127.0.0.1', '--key', 'nope.key'], /cannot read key file nope.key \(ENOENT\)/],
    [['frobnicate'], /unknown command/],
    [['opne', '22', '--host', '127.0.0.1'], /unknown command 'opne'\n\(Did you mean open\?\)/],
    [['keygen', '--user', 'Alice Smith'], /--user: expected a name like "alice"/],
    // Thrown by server code, outside the bundle: a UsageError of another copy of the class.
    [['import-knockd', 'knockd.conf', '--user', 'Alice Smith'], /--user: expected a name like "alice"/],
  ];
  for (const [args, message] of cases) {
    const r = await knockspa(args, dir);
    assert.equal(r.code, 2, `${args.join(' ')} -> ${r.code} ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
});

test('open --wait on udp ports only is a usage error found before the knock is sent (nothing reaches the SPA port)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cli-'));
  await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test'], dir);
  const received: Buffer[] = [];
  const spa = createSocket('udp4', (msg) => received.push(msg));
  await new Promise<void>((done) => spa.bind(0, '127.0.0.1', done));
  try {
    const port = String(spa.address().port);
    const r = await knockspa(['open', 'udp/53', '--host', '127.0.0.1', '--spa-port', port, '--wait'], dir);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--wait probes TCP ports; this knock has none/);
    // The control: the same knock without --wait does arrive, so the socket would have heard one.
    const sent = await knockspa(['open', 'udp/53', '--host', '127.0.0.1', '--spa-port', port], dir);
    assert.equal(sent.code, 0, sent.stderr);
    await new Promise((done) => setTimeout(done, 200));
    assert.equal(received.length, 1, 'one packet: the one sent without --wait');
  } finally {
    spa.close();
  }
});

test('a key file others can read is refused by the client with the chmod to run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cli-'));
  await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test'], dir);
  chmodSync(join(dir, 'keys', 'alice.key'), 0o644);
  const r = await knockspa(['open', '22', '--host', '127.0.0.1'], dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /mode 644.*run: chmod 600 keys\/alice.key/);
});

test('the key is found by --key, then KNOCKSPA_KEY, then the only file in ./keys', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cli-'));
  const none = await knockspa(['open', '22', '--host', '127.0.0.1', '--spa-port', '9'], dir);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /which key\? no key file in .\/keys; pass --key FILE or set KNOCKSPA_KEY/);
  await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test'], dir);
  const one = await knockspa(['open', '22', '--host', '127.0.0.1', '--spa-port', '9'], dir);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /sent open tcp\/22 .* as alice/);
  await knockspa(['keygen', '--user', 'bob', '--server-id', 'srv.test'], dir);
  const two = await knockspa(['open', '22', '--host', '127.0.0.1', '--spa-port', '9'], dir);
  assert.match(two.stderr, /which key\? 2 key files in .\/keys/);
  const env = await knockspa(['open', '22', '--host', '127.0.0.1', '--spa-port', '9'], dir, { KNOCKSPA_KEY: join(dir, 'keys', 'bob.key') });
  assert.match(env.stdout, /as bob/);
});

test('--dump-packet writes exactly one 146-byte packet', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cli-'));
  await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test'], dir);
  const r = await knockspa(['open', 'tcp/22', 'udp/53', '--host', '127.0.0.1', '--spa-port', '9', '--dump-packet', 'p.bin'], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(dir, 'p.bin')).length, 146);
});

test('server: a bad config exits 2 naming file and key; --check on a good dry-run config exits 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cli-'));
  await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test'], dir);
  const config = join(dir, 'server.toml');
  writeFileSync(config, 'firewall = "dry-run"\nserver_id = "srv.test"\nport = 70000\n[users.alice]\nports = ["22"]\n');
  const bad = await knockspa(['server', '--config', config], dir);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, new RegExp(`${config}: port: expected an integer from 1 to 65535, got 70000`));
  writeFileSync(config, 'firewall = "dry-run"\nserver_id = "srv.test"\n[users.alice]\nports = ["22"]\n');
  const ok = await knockspa(['server', '--config', config, '--check'], dir);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /ok \(1 user, firewall dry-run/);
  // A one-off check reports an error once, as text on stderr, not also as a JSON log line.
  writeFileSync(config, 'firewall = "dry-run"\nserver_id = "srv.test"\nport = 70000\n[users.alice]\nports = ["22"]\n');
  const badCheck = await knockspa(['server', '--config', config, '--check'], dir);
  assert.equal(badCheck.code, 2);
  assert.equal(badCheck.stdout, '', 'no JSON log line');
  assert.equal(badCheck.stderr.match(/expected an integer from 1 to 65535/g)?.length, 1);
  // A key bound to another server id: every knock with it would be wrong-server, so --check fails.
  writeFileSync(config, 'firewall = "dry-run"\nserver_id = "other.test"\n[users.alice]\nports = ["22"]\n');
  const wrong = await knockspa(['server', '--config', config, '--check'], dir);
  assert.equal(wrong.code, 2, wrong.stdout);
  assert.match(wrong.stderr, /bound to server id "srv\.test" but server_id is "other\.test".*--server-id other\.test/);
});

test("open PROFILE uses the profile's host, SPA port, key and ports; flags and extra ports override it", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cli-'));
  const xdg = join(dir, 'xdg');
  mkdirSync(join(xdg, 'knockspa'), { recursive: true });
  await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test', '--out', join(dir, 'k')], dir);
  await knockspa(['keygen', '--user', 'bob', '--server-id', 'srv.test', '--out', join(dir, 'k')], dir);
  writeFileSync(
    join(xdg, 'knockspa', 'config.toml'),
    `[servers.myserver]\nhost = "127.0.0.1"\nspa_port = 9\nkey = "${join(dir, 'k', 'alice.key')}"\nports = ["22", "udp/53"]\nallow_ip = "198.18.0.3"\n`,
  );
  const env = { XDG_CONFIG_HOME: xdg };
  const plain = await knockspa(['open', 'myserver', '--dump-packet', 'p.bin'], dir, env);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, "sent open tcp/22 udp/53 for 198.18.0.3, the server's default time to 127.0.0.1 udp/9 as alice\n");
  const overridden = await knockspa(
    ['open', 'myserver', '443', '--key', join(dir, 'k', 'bob.key'), '--allow-ip', '198.18.0.4', '--duration', '5'],
    dir,
    env,
  );
  assert.equal(overridden.code, 0, overridden.stderr);
  assert.equal(overridden.stdout, 'sent open tcp/443 for 198.18.0.4, asked 5 s (the server may cap it) to 127.0.0.1 udp/9 as bob\n');
  const closed = await knockspa(['close', 'myserver'], dir, env);
  assert.match(closed.stdout, /^sent close tcp\/22 udp\/53 for 198\.18\.0\.3 to 127\.0\.0\.1 udp\/9 as alice$/m);

  const unknown = await knockspa(['open', 'yourserver'], dir, env);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    new RegExp(`${join(xdg, 'knockspa', 'config.toml')}: servers\\.yourserver: no such profile \\(it has myserver\\)`),
  );
  writeFileSync(join(xdg, 'knockspa', 'config.toml'), '[servers.myserver]\nhost = "127.0.0.1"\nspa_port = 0\n');
  const bad = await knockspa(['open', 'myserver', '22'], dir, env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /config\.toml: servers\.myserver\.spa_port: expected an integer from 1 to 65535, got 0/);
  writeFileSync(join(xdg, 'knockspa', 'config.toml'), '[servers.myserver]\nhost = "127.0.0.1"\n');
  const noPorts = await knockspa(['open', 'myserver'], dir, env);
  assert.equal(noPorts.code, 2);
  assert.match(noPorts.stderr, /profile myserver has no ports = \[\.\.\.\] in .*; add them there or give them: knockspa open myserver 22/);
});

test('keygen --rotate adds NAME.DATE.key beside the old key, never replacing one, and prints the next steps', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-cli-'));
  const none = await knockspa(['keygen', '--user', 'alice', '--rotate'], dir);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--rotate: no key of alice in keys to rotate; make the first with: knockspa keygen --user alice --out keys/);
  await knockspa(['keygen', '--user', 'alice', '--server-id', 'srv.test'], dir);
  const oldText = readFileSync(join(dir, 'keys', 'alice.key'), 'utf8');
  const old = parseKeyFile(oldText);

  const r = await knockspa(['keygen', '--user', 'alice', '--rotate'], dir);
  assert.equal(r.code, 0, r.stderr);
  const day = new Date().toISOString().slice(0, 10);
  const rotated = join(dir, 'keys', `alice.${day}.key`);
  assert.equal(statSync(rotated).mode & 0o777, 0o600);
  const fresh = parseKeyFile(readFileSync(rotated, 'utf8'));
  assert.equal(fresh.user, 'alice');
  assert.equal(fresh.serverId, 'srv.test', 'the server id of the existing key, not this host name');
  assert.notDeepEqual(fresh.keyId, old.keyId);
  assert.equal(readFileSync(join(dir, 'keys', 'alice.key'), 'utf8'), oldText, 'the old key is untouched');
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  assert.match(r.stdout, new RegExp(`a new key for alice, key id ${hex(fresh.keyId)}`));
  assert.match(r.stdout, new RegExp(`alice\\.key  \\(key id ${hex(old.keyId)}`));
  assert.match(r.stdout, /systemctl reload knockspa/);
  assert.match(r.stdout, new RegExp(`rm /etc/knockspa/keys/alice\\.key`));
  assert.doesNotMatch(r.stdout, new RegExp(`${hex(fresh.secret)}|${hex(old.secret)}`), 'no secret printed');

  const again = await knockspa(['keygen', '--user', 'alice', '--rotate'], dir);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(existsSync(join(dir, 'keys', `alice.${day}.2.key`)), 'a second rotation the same day gets its own file');
  assert.match(again.stdout, new RegExp(`alice\\.${day}\\.key  \\(key id ${hex(fresh.keyId)}`), 'lists both older keys');

  const forced = await knockspa(['keygen', '--user', 'alice', '--rotate', '--force'], dir);
  assert.equal(forced.code, 2);
  assert.match(forced.stderr, /--rotate never replaces a key/);
});

test('--help of connect, doctor and import-knockd shows an example', async () => {
  for (const args of [
    ['connect', '--help'],
    ['doctor', '--help'],
    ['import-knockd', '--help'],
  ]) {
    const r = await knockspa(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, new RegExp(`^Usage: knockspa ${args[0]} `), args.join(' '));
    assert.match(r.stdout, /Example/, args.join(' '));
  }
  assert.match((await knockspa(['connect', '--help'])).stdout, /ProxyCommand knockspa connect %h %p/);
});

test('close --help offers only what close can use; numeric defaults are shown without quotes', async () => {
  const close = (await knockspa(['close', '--help'])).stdout;
  assert.doesNotMatch(close, /--fwknop|--format|--duration|--wait/);
  assert.match(close, /--allow-ip/, 'a close for an address opened with open --allow-ip');
  const help = (await knockspa(['open', '--help'])).stdout + (await knockspa(['connect', '--help'])).stdout;
  assert.doesNotMatch(help, /default: "/);
  assert.match(help.replace(/\s+/g, ' '), /give up waiting after this many seconds \(default: 10\)/);
  assert.match(help.replace(/\s+/g, ' '), /before giving up \(default: 3\)/);
});

test('open --format fwknop: usage errors say what to do and never print a key', async () => {
  const key = Buffer.alloc(32, 1).toString('base64');
  const hmac = Buffer.alloc(64, 2).toString('base64');
  const fw = ['--host', '127.0.0.1', '--spa-port', '9', '--format', 'fwknop'];
  const cases: Array<[string[], RegExp]> = [
    [['open', '22', '--host', '127.0.0.1', '--format', 'gpg'], /--format: expected knockspa or fwknop, got "gpg"/],
    [['open', '22', '--host', '127.0.0.1', '--fwknop-key-base64', key], /--fwknop-key-base64 is for fwknop packets; add --format fwknop/],
    [['open', '22', ...fw], /pass --fwknop-key-base64 and --fwknop-hmac-key-base64/],
    // close has no fwknop options at all: fwknop has no close message.
    [['close', '22', ...fw, '--fwknop-key-base64', key, '--fwknop-hmac-key-base64', hmac], /unknown option '--format'/],
    [
      ['open', '22', ...fw, '--fwknop-key-base64', key, '--fwknop-hmac-key-base64', hmac, '--key', 'a.key'],
      /--key and --server-id are for knockspa packets/,
    ],
    [
      ['open', '22', ...fw, '--fwknop-key-base64', key.slice(0, 21), '--fwknop-hmac-key-base64', hmac],
      /the encryption key is not valid base64/,
    ],
    [
      ['open', '22', ...fw, '--fwknop-key-base64', key, '--fwknop-hmac-key-base64', Buffer.alloc(20, 2).toString('base64')],
      /the HMAC key has 20 bytes/,
    ],
    [
      ['open', '22', ...fw, '--fwknop-key-base64', key, '--fwknop-hmac-key-base64', hmac, '--allow-ip', '2001:db8::1'],
      /IPv4 addresses only/,
    ],
    [['open', '22', ...fw, '--fwknop-key-base64', key, '--fwknop-hmac-key-base64', hmac, '--duration', '70000'], /at most 65536 seconds/],
    [
      ['open', '22', ...fw, '--fwknop-key-base64', key, '--fwknop-hmac-key-base64', hmac, '--fwknop-user', 'a:b'],
      /--fwknop-user: expected 1 to 48 printable characters/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await knockspa(args);
    assert.equal(r.code, 2, `${args.join(' ')} -> ${r.code} ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    for (const secret of [key, hmac, key.slice(0, 21)]) assert.ok(!r.stderr.includes(secret), `no key in: ${r.stderr}`);
  }
});

test('open --format fwknop sends one fwknop packet that our fwknop verifier accepts', async () => {
  const { createSocket } = await import('node:dgram');
  const { FwknopKeyring, FwknopVerifier } = await import('../../../src/protocol/fwknop/index.js');
  const { ReplayGuard } = await import('../../../src/protocol/replay.js');
  const keys = { encKey: new Uint8Array(32).fill(7), hmacKey: new Uint8Array(64).fill(8) };
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const received = new Promise<Buffer>((r) => socket.once('message', r));
  try {
    const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
    const r = await knockspa([
      'open',
      'tcp/22',
      'udp/53',
      '--host',
      '127.0.0.1',
      '--spa-port',
      String(socket.address().port),
      '--format',
      'fwknop',
      '--fwknop-key-base64',
      b64(keys.encKey),
      '--fwknop-hmac-key-base64',
      b64(keys.hmacKey),
      '--allow-ip',
      '198.51.100.7',
      '--duration',
      '90',
      '--fwknop-user',
      'tester',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /sent open tcp\/22 udp\/53 for 198\.51\.100\.7, asked 90 s \(the server may cap it\) to 127\.0\.0\.1 udp\/\d+ as tester/,
    );
    const packet = new Uint8Array(await received);
    const ring = new FwknopKeyring();
    ring.add('carol', keys);
    const v = new FwknopVerifier({ keyring: ring, maxSkewMs: 30_000, replay: new ReplayGuard(100) }).verify(packet, Date.now());
    assert.equal(typeof v, 'object', String(v));
    if (typeof v === 'string') return;
    assert.deepEqual(
      [v.user, v.fwknopUser, v.allowIp, v.ports, v.durationSec],
      [
        'carol',
        'tester',
        '198.51.100.7',
        [
          { proto: 'tcp', port: 22 },
          { proto: 'udp', port: 53 },
        ],
        90,
      ],
    );
  } finally {
    socket.close();
  }
});

test('an fwknop profile: open NAME sends a packet our fwknop verifier accepts; the file must be 0600', async () => {
  const { createSocket } = await import('node:dgram');
  const { mkdirSync } = await import('node:fs');
  const { FwknopKeyring, FwknopVerifier } = await import('../../../src/protocol/fwknop/index.js');
  const { ReplayGuard } = await import('../../../src/protocol/replay.js');
  const keys = { encKey: new Uint8Array(32).fill(3), hmacKey: new Uint8Array(64).fill(4) };
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const received = new Promise<Buffer>((r) => socket.once('message', r));
  const xdg = mkdtempSync(join(tmpdir(), 'knockspa-xdg-'));
  mkdirSync(join(xdg, 'knockspa'));
  const profileFile = join(xdg, 'knockspa', 'config.toml');
  writeFileSync(
    profileFile,
    `[servers.legacy]\nhost = "127.0.0.1"\nspa_port = ${socket.address().port}\nports = ["tcp/22"]\nallow_ip = "198.51.100.9"\n` +
      `format = "fwknop"\nfwknop_key_base64 = "${b64(keys.encKey)}"\nfwknop_hmac_key_base64 = "${b64(keys.hmacKey)}"\nfwknop_user = "dave"\n`,
    { mode: 0o644 },
  );
  try {
    const open = await knockspa(['open', 'legacy'], tmpdir(), { XDG_CONFIG_HOME: xdg });
    assert.equal(open.code, 2);
    assert.match(open.stderr, /servers\.legacy: fwknop keys in a file with mode 644.*run: chmod 600/);
    assert.ok(!open.stderr.includes(b64(keys.hmacKey)), 'no key in the message');
    chmodSync(profileFile, 0o600);
    const r = await knockspa(['open', 'legacy'], tmpdir(), { XDG_CONFIG_HOME: xdg });
    assert.equal(r.code, 0, r.stderr);
    const ring = new FwknopKeyring();
    ring.add('dave', keys);
    const v = new FwknopVerifier({ keyring: ring, maxSkewMs: 30_000, replay: new ReplayGuard(100) }).verify(
      new Uint8Array(await received),
      Date.now(),
    );
    assert.equal(typeof v, 'object', String(v));
    if (typeof v === 'string') return;
    assert.deepEqual([v.user, v.fwknopUser, v.allowIp, v.ports], ['dave', 'dave', '198.51.100.9', [{ proto: 'tcp', port: 22 }]]);
  } finally {
    socket.close();
  }
});

test("the command keeps Node's compile cache in the user's cache directory where Node has one (22.1 and later), and writes none where it has not", async () => {
  const cache = mkdtempSync(join(tmpdir(), 'knockspa-cache-'));
  const run = await knockspa(['--version'], tmpdir(), { XDG_CACHE_HOME: cache });
  assert.equal(run.code, 0, run.stderr);
  const dir = join(cache, 'knockspa', 'compile-cache');
  if (typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === 'function')
    assert.ok(readdirSync(dir, { recursive: true }).length > 1, 'cache files written');
  else assert.equal(existsSync(dir), false, 'no cache directory on a Node without module.enableCompileCache');
});
