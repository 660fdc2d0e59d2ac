// Client profiles: the file's location, strict validation (file, key, expected), and how flags, the profile and the environment combine.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, UsageError } from '../../../src/shared/errors.js';
import { getProfile, loadProfiles, parseProfiles, profilesFile } from '../../../src/client/profiles.js';
import { resolveTarget, splitProfileArg } from '../../../src/client/target.js';

const FILE = '/home/alice/.config/knockspa/config.toml';
const HOME = '/home/alice';

test('profilesFile honours an absolute XDG_CONFIG_HOME, else HOME/.config', () => {
  assert.equal(profilesFile({ XDG_CONFIG_HOME: '/x/cfg', HOME }), '/x/cfg/knockspa/config.toml');
  assert.equal(
    profilesFile({ XDG_CONFIG_HOME: 'relative/cfg', HOME }),
    '/home/alice/.config/knockspa/config.toml',
    'a relative XDG_CONFIG_HOME is ignored (XDG spec)',
  );
  assert.equal(profilesFile({ HOME }), '/home/alice/.config/knockspa/config.toml');
});

test('a full profile and a minimal one', () => {
  const profiles = parseProfiles(
    FILE,
    `
[servers.myserver]
host = "ssh.example.com"
spa_port = 40000
key = "~/.config/knockspa/alice.key"
ports = ["22", "udp/53"]
allow_ip = "source"

[servers.office]
host = "2001:db8::1"
key = "keys/office.key"
allow_ip = "2001:DB8::0:7"
`,
    HOME,
  );
  assert.deepEqual(profiles.get('myserver'), {
    name: 'myserver',
    file: FILE,
    host: 'ssh.example.com',
    spaPort: 40000,
    key: '/home/alice/.config/knockspa/alice.key',
    ports: [
      { proto: 'tcp', port: 22 },
      { proto: 'udp', port: 53 },
    ],
    allowIp: null,
    format: undefined,
    fwknopKeyBase64: undefined,
    fwknopHmacKeyBase64: undefined,
    fwknopUser: undefined,
    sshKey: undefined,
    serverKey: undefined,
  });
  const office = profiles.get('office');
  assert.equal(office?.key, '/home/alice/.config/knockspa/keys/office.key', 'relative to the profile file');
  assert.equal(office?.allowIp, '2001:db8::7', 'canonical form');
  assert.equal(office?.spaPort, undefined);
  assert.equal(office?.ports, undefined);
  assert.deepEqual(parseProfiles(FILE, '', HOME), new Map(), 'an empty file has no profiles');
});

test('every mistake names the file, the key and what was expected', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      '[servers.a]\nhost = "h"\nprot = 1',
      'servers.a.prot',
      /unknown key; expected one of host, spa_port, key, ports, allow_ip, format, fwknop_key_base64/,
    ],
    ['[servers.a]\nspa_port = 1', 'servers.a.host', /expected the server's host name or address.*got nothing/],
    ['[servers.a]\nhost = "h"\nspa_port = 70000', 'servers.a.spa_port', /expected an integer from 1 to 65535, got 70000/],
    ['[servers.a]\nhost = "h"\nspa_port = "62201"', 'servers.a.spa_port', /got "62201"/],
    [
      '[servers.a]\nhost = "h"\nports = ["tcp/0"]',
      'servers.a.ports',
      /expected ports like "22", "tcp\/22" or "udp\/53" \(1..65535\), got "tcp\/0"/,
    ],
    ['[servers.a]\nhost = "h"\nports = ["22", "tcp/22"]', 'servers.a.ports', /tcp\/22 listed twice/],
    ['[servers.a]\nhost = "h"\nports = []', 'servers.a.ports', /an array of 1 to 8 ports/],
    ['[servers.a]\nhost = "h"\nallow_ip = "me"', 'servers.a.allow_ip', /"source" .* or one IPv4 or IPv6 address, got "me"/],
    ['[servers.a]\nhost = "h"\nallow_ip = "0.0.0.0"', 'servers.a.allow_ip', /got "0.0.0.0"/],
    ['[servers.a]\nhost = "h"\nformat = "gpg"', 'servers.a.format', /expected "knockspa" or "fwknop", got "gpg"/],
    [
      '[servers.a]\nhost = "h"\nformat = "fwknop"\nfwknop_key_base64 = "AAAA"',
      'servers.a.format',
      /needs fwknop_key_base64 and fwknop_hmac_key_base64/,
    ],
    ['[servers.a]\nhost = "h"\nfwknop_key_base64 = "AAAA"', 'servers.a.format', /format = "fwknop" when fwknop_key_base64/],
    [
      '[servers.a]\nhost = "h"\nformat = "fwknop"\nfwknop_key_base64 = "not base64!"\nfwknop_hmac_key_base64 = "AAAA"',
      'servers.a.fwknop_key_base64',
      /base64 text fwknop --key-gen prints \(value not shown\)/,
    ],
    [
      '[servers.a]\nhost = "h"\nformat = "fwknop"\nfwknop_key_base64 = "AAAA"\nfwknop_hmac_key_base64 = "AAAA"\nkey = "a.key"',
      'servers.a.key',
      /an fwknop profile uses fwknop_key_base64/,
    ],
    ['[servers.a]\nhost = "h"\nkey = ""', 'servers.a.key', /the path of a key file/],
    ['[servers.22]\nhost = "h"', 'servers.22', /does not look like a port/],
    ['[servers."tcp/22"]\nhost = "h"', 'servers.tcp/22', /does not look like a port/],
    ['servers = 3', 'servers', /expected \[servers.NAME\] tables, got 3/],
    ['[servers]\na = 1', 'servers.a', /expected a table, got 1/],
    ['host = "h"', 'host', /unknown key; expected \[servers.NAME\] tables only/],
    ['[servers.a\nhost = "h"', '', /not valid TOML at line 1/],
  ];
  for (const [text, key, expected] of cases) {
    assert.throws(
      () => parseProfiles(FILE, text, HOME),
      (err: unknown) =>
        err instanceof ConfigError &&
        err instanceof UsageError &&
        err.file === FILE &&
        err.key === key &&
        expected.test(err.message) &&
        err.message.startsWith(FILE),
      `${JSON.stringify(text)} -> ${key}`,
    );
  }
});

test('no profile file means no profiles; asking for one by name says where to add it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-profiles-'));
  const file = join(dir, 'config.toml');
  assert.equal(loadProfiles(file).size, 0);
  assert.throws(
    () => getProfile('myserver', file),
    (err: unknown) =>
      err instanceof ConfigError && /servers\.myserver: no such profile \(it has none\); add \[servers\.myserver\]/.test(err.message),
  );
  writeFileSync(file, '[servers.a]\nhost = "h"\n[servers.b]\nhost = "h"\n');
  assert.throws(() => getProfile('c', file), /it has a, b/);
  assert.equal(getProfile('b', file).host, 'h');
});

test('a first argument that does not look like a port names a profile', () => {
  assert.deepEqual(splitProfileArg(['22', 'udp/53']), { profile: undefined, ports: ['22', 'udp/53'] });
  assert.deepEqual(splitProfileArg(['0']), { profile: undefined, ports: ['0'] }, 'an invalid port is still a port (and fails as one)');
  assert.deepEqual(splitProfileArg(['TCP/70000']), { profile: undefined, ports: ['TCP/70000'] });
  assert.deepEqual(splitProfileArg(['myserver']), { profile: 'myserver', ports: [] });
  assert.deepEqual(splitProfileArg(['myserver', '443']), { profile: 'myserver', ports: ['443'] });
  assert.deepEqual(splitProfileArg(['sctp/22']), { profile: 'sctp/22', ports: [] }, 'then fails as an unknown profile');
});

test("flags override the profile; the profile's key comes before KNOCKSPA_KEY", () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-target-'));
  mkdirSync(join(dir, 'keys'));
  const [profile] = parseProfiles(
    join(dir, 'config.toml'),
    '[servers.s]\nhost = "h.example"\nspa_port = 40000\nkey = "p.key"\nallow_ip = "198.18.0.3"',
    HOME,
  ).values();
  const env = { KNOCKSPA_KEY: '/env.key', HOME };
  assert.deepEqual(resolveTarget({}, profile, env), {
    host: 'h.example',
    spaPort: 40000,
    keyFile: join(dir, 'p.key'),
    allowIp: '198.18.0.3',
    serverId: undefined,
  });
  assert.deepEqual(resolveTarget({ host: 'other', spaPort: '41000', key: '/flag.key', allowIp: '::7', serverId: 'srv' }, profile, env), {
    host: 'other',
    spaPort: 41000,
    keyFile: '/flag.key',
    allowIp: '::7',
    serverId: 'srv',
  });
  assert.equal(resolveTarget({ host: 'h' }, undefined, env).keyFile, '/env.key', 'no profile: KNOCKSPA_KEY');
  assert.equal(resolveTarget({ host: 'h' }, undefined, env).spaPort, 62201);
  assert.equal(resolveTarget({ host: 'h' }, undefined, env).allowIp, null);
  assert.throws(() => resolveTarget({}, undefined, env), /which server\? pass --host HOST, or name a profile first/);
});

test('SSH-key profiles: ssh_key ("agent" or a path, ~ expanded) needs server_key; not with key or fwknop', () => {
  const pub = 'eaYx7t4b+cmPEgMs3q3Q56B5OY/HhriMyEbsia+FpRo=';
  const p = parseProfiles(
    FILE,
    `[servers.a]\nhost = "h"\nssh_key = "~/.ssh/id_ed25519.pub"\nserver_key = "${pub}"\n[servers.b]\nhost = "h"\nssh_key = "agent"\nserver_key = "${pub}"\n`,
    HOME,
  );
  assert.equal(p.get('a')?.sshKey, '/home/alice/.ssh/id_ed25519.pub');
  assert.equal(p.get('a')?.serverKey, pub);
  assert.equal(p.get('b')?.sshKey, 'agent');
  const cases: Array<[string, RegExp]> = [
    ['ssh_key = "agent"', /servers\.a\.server_key: expected the server's public key beside ssh_key/],
    [
      `ssh_key = "agent"\nserver_key = "short"`,
      /servers\.a\.server_key: expected the server's public key, as knockspa keygen --server printed it/,
    ],
    [`ssh_key = "agent"\nserver_key = "${pub}"\nkey = "a.key"`, /servers\.a\.ssh_key: one of key .* and ssh_key/],
    [`ssh_key = 3`, /servers\.a\.ssh_key: expected "agent" or the path of an SSH key/],
  ];
  for (const [body, pattern] of cases) assert.throws(() => parseProfiles(FILE, `[servers.a]\nhost = "h"\n${body}\n`, HOME), pattern);
});
