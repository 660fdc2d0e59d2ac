// Server config validation: defaults, and a table of bad configs, each with the key and expectation it must name.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../../src/server/config-error.js';
import { loadConfig } from '../../../src/server/config.js';
import { assertConfigError } from '../../support/config-error.js';

const GOOD = `
listen = "udp"
address = "0.0.0.0"
port = 62201
firewall = "iptables"
server_id = "srv.test"
keys_dir = "keys"
state_dir = "state"
max_skew = 30
default_duration = 30
[users.alice]
ports = ["tcp/22", "udp/53"]
max_duration = 300
require_ip = false
`;

function writeConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-config-'));
  const file = join(dir, 'server.toml');
  writeFileSync(file, text);
  return file;
}

test('a full config loads, with paths relative to the file', () => {
  const file = writeConfig(GOOD);
  const config = loadConfig(file);
  assert.equal(config.listen, 'udp');
  assert.equal(config.port, 62201);
  assert.equal(config.serverId, 'srv.test');
  assert.equal(config.keysDir, join(file, '..', 'keys'));
  assert.equal(config.stateDir, join(file, '..', 'state'));
  assert.deepEqual(config.users.get('alice'), {
    name: 'alice',
    ports: [{ proto: 'tcp', port: 22 }, { proto: 'udp', port: 53 }],
    maxDurationSec: 300,
    requireIp: false,
    format: 'knockspa',
  });
});

test('defaults fill what is left out', () => {
  const config = loadConfig(writeConfig('server_id = "s"\n[users.bob]\nports = ["22"]\n'));
  assert.equal(config.listen, 'udp');
  assert.equal(config.address, '0.0.0.0');
  assert.equal(config.port, 62201);
  assert.equal(config.firewall, 'iptables');
  assert.equal(config.maxSkewSec, 30);
  assert.equal(config.defaultDurationSec, 30);
  assert.equal(config.users.get('bob')?.maxDurationSec, 300);
  assert.equal(config.users.get('bob')?.requireIp, false);
});

const BAD: ReadonlyArray<{ name: string; edit: (t: string) => string; key: string; expected: RegExp }> = [
  { name: 'unknown top-level key', edit: (t) => `prot = 1\n${t}`, key: 'prot', expected: /unknown key; expected one of listen, address/ },
  { name: 'unknown user key', edit: (t) => t.replace('require_ip = false', 'require_ip = false\nport = 22'), key: 'users.alice.port', expected: /unknown key; expected one of ports, max_duration, require_ip/ },
  { name: 'port out of range', edit: (t) => t.replace('port = 62201', 'port = 70000'), key: 'port', expected: /expected an integer from 1 to 65535, got 70000/ },
  { name: 'port as a string', edit: (t) => t.replace('port = 62201', 'port = "62201"'), key: 'port', expected: /expected an integer from 1 to 65535, got "62201"/ },
  { name: 'unknown firewall', edit: (t) => t.replace('firewall = "iptables"', 'firewall = "ipchains"'), key: 'firewall', expected: /expected one of "iptables", "dry-run", got "ipchains"/ },
  { name: 'unknown listen mode', edit: (t) => t.replace('listen = "udp"', 'listen = "tcp"'), key: 'listen', expected: /expected one of "udp", "pcap"/ },
  { name: 'pcap without interface', edit: (t) => t.replace('listen = "udp"', 'listen = "pcap"'), key: 'interface', expected: /the interface to sniff/ },
  { name: 'bind address not an IP', edit: (t) => t.replace('address = "0.0.0.0"', 'address = "localhost"'), key: 'address', expected: /an IPv4 or IPv6 address/ },
  { name: 'skew as a string', edit: (t) => t.replace('max_skew = 30', 'max_skew = "30"'), key: 'max_skew', expected: /expected an integer from 1 to 3600, got "30"/ },
  { name: 'zero duration', edit: (t) => t.replace('default_duration = 30', 'default_duration = 0'), key: 'default_duration', expected: /expected an integer from 1 to 86400, got 0/ },
  { name: 'port 0 in a user', edit: (t) => t.replace('"tcp/22", "udp/53"', '"tcp/0"'), key: 'users.alice.ports', expected: /expected ports like "tcp\/22" or "udp\/53" \(1..65535\), got "tcp\/0"/ },
  { name: 'unknown protocol', edit: (t) => t.replace('"tcp/22", "udp/53"', '"sctp/22"'), key: 'users.alice.ports', expected: /got "sctp\/22"/ },
  { name: 'duplicate port', edit: (t) => t.replace('"tcp/22", "udp/53"', '"tcp/22", "22"'), key: 'users.alice.ports', expected: /tcp\/22 listed twice/ },
  { name: 'empty ports', edit: (t) => t.replace('"tcp/22", "udp/53"', ''), key: 'users.alice.ports', expected: /a non-empty array/ },
  { name: 'require_ip not a boolean', edit: (t) => t.replace('require_ip = false', 'require_ip = "no"'), key: 'users.alice.require_ip', expected: /expected true or false, got "no"/ },
  { name: 'max_duration too long', edit: (t) => t.replace('max_duration = 300', 'max_duration = 100000'), key: 'users.alice.max_duration', expected: /from 1 to 86400/ },
  { name: 'bad user name', edit: (t) => t.replace('[users.alice]', '[users."Alice Smith"]'), key: 'users.Alice Smith', expected: /expected a user name matching/ },
  { name: 'no users', edit: (t) => t.slice(0, t.indexOf('[users.alice]')), key: 'users', expected: /at least one \[users.NAME\] table/ },
  { name: 'bad server id', edit: (t) => t.replace('server_id = "srv.test"', 'server_id = "my server"'), key: 'server_id', expected: /host-name-like/ },
  { name: 'users not a table', edit: (t) => `users = 3\n${t.slice(0, t.indexOf('[users.alice]'))}`, key: 'users', expected: /expected a table, got 3/ },
];

for (const { name, edit, key, expected } of BAD) {
  test(`bad config: ${name}`, () => {
    const file = writeConfig(edit(GOOD));
    assertConfigError(() => loadConfig(file), file, key, expected);
  });
}

test('bad config: TOML syntax error names the file and the line', () => {
  const file = writeConfig('port = \n[users.alice]\nports = ["22"]\n');
  assert.throws(() => loadConfig(file), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${file}: not valid TOML`) && /line 1/i.test(err.message));
});

test('bad config: a missing file says to pass --config', () => {
  assert.throws(() => loadConfig('/nonexistent/knockspa.toml'), /\/nonexistent\/knockspa.toml: cannot read the config file \(ENOENT\); pass --config FILE/);
});
