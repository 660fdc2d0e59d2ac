// Server config validation: defaults, and a table of bad configs, each with the key and expectation it must name.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../../src/shared/errors.js';
import { loadConfig } from '../../../src/server/config/config.js';
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
    ports: [
      { proto: 'tcp', port: 22 },
      { proto: 'udp', port: 53 },
    ],
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

test('no users is a valid config (a fresh install): it loads with an empty user map', () => {
  const config = loadConfig(writeConfig(GOOD.slice(0, GOOD.indexOf('[users.alice]'))));
  assert.equal(config.users.size, 0);
});

const BAD: ReadonlyArray<{ name: string; edit: (t: string) => string; key: string; expected: RegExp }> = [
  { name: 'unknown top-level key', edit: (t) => `prot = 1\n${t}`, key: 'prot', expected: /unknown key; expected one of listen, address/ },
  {
    name: 'unknown user key',
    edit: (t) => t.replace('require_ip = false', 'require_ip = false\nport = 22'),
    key: 'users.alice.port',
    expected: /unknown key; expected one of ports, max_duration, require_ip/,
  },
  {
    name: 'port out of range',
    edit: (t) => t.replace('port = 62201', 'port = 70000'),
    key: 'port',
    expected: /expected an integer from 1 to 65535, got 70000/,
  },
  {
    name: 'port as a string',
    edit: (t) => t.replace('port = 62201', 'port = "62201"'),
    key: 'port',
    expected: /expected an integer from 1 to 65535, got "62201"/,
  },
  {
    name: 'unknown firewall',
    edit: (t) => t.replace('firewall = "iptables"', 'firewall = "ipchains"'),
    key: 'firewall',
    expected: /expected one of .*"iptables".*, got "ipchains"/,
  }, // every name: firewall-registry.test.ts
  {
    name: 'unknown listen mode',
    edit: (t) => t.replace('listen = "udp"', 'listen = "tcp"'),
    key: 'listen',
    expected: /expected one of "udp", "pcap"/,
  },
  {
    name: 'pcap without interface',
    edit: (t) => t.replace('listen = "udp"', 'listen = "pcap"'),
    key: 'interface',
    expected: /the interface to sniff/,
  },
  {
    name: 'bind address not an IP',
    edit: (t) => t.replace('address = "0.0.0.0"', 'address = "localhost"'),
    key: 'address',
    expected: /an IPv4 or IPv6 address/,
  },
  {
    name: 'skew as a string',
    edit: (t) => t.replace('max_skew = 30', 'max_skew = "30"'),
    key: 'max_skew',
    expected: /expected an integer from 1 to 3600, got "30"/,
  },
  {
    name: 'zero duration',
    edit: (t) => t.replace('default_duration = 30', 'default_duration = 0'),
    key: 'default_duration',
    expected: /expected an integer from 1 to 86400, got 0/,
  },
  {
    name: 'port 0 in a user',
    edit: (t) => t.replace('"tcp/22", "udp/53"', '"tcp/0"'),
    key: 'users.alice.ports',
    expected: /expected ports like "tcp\/22" or "udp\/53" \(1..65535\), got "tcp\/0"/,
  },
  {
    name: 'unknown protocol',
    edit: (t) => t.replace('"tcp/22", "udp/53"', '"sctp/22"'),
    key: 'users.alice.ports',
    expected: /got "sctp\/22"/,
  },
  {
    name: 'duplicate port',
    edit: (t) => t.replace('"tcp/22", "udp/53"', '"tcp/22", "22"'),
    key: 'users.alice.ports',
    expected: /tcp\/22 listed twice/,
  },
  { name: 'empty ports', edit: (t) => t.replace('"tcp/22", "udp/53"', ''), key: 'users.alice.ports', expected: /a non-empty array/ },
  {
    name: 'require_ip not a boolean',
    edit: (t) => t.replace('require_ip = false', 'require_ip = "no"'),
    key: 'users.alice.require_ip',
    expected: /expected true or false, got "no"/,
  },
  {
    name: 'max_duration too long',
    edit: (t) => t.replace('max_duration = 300', 'max_duration = 100000'),
    key: 'users.alice.max_duration',
    expected: /from 1 to 86400/,
  },
  {
    name: 'bad user name',
    edit: (t) => t.replace('[users.alice]', '[users."Alice Smith"]'),
    key: 'users.Alice Smith',
    expected: /expected a user name matching/,
  },
  {
    name: 'bad server id',
    edit: (t) => t.replace('server_id = "srv.test"', 'server_id = "my server"'),
    key: 'server_id',
    expected: /host-name-like/,
  },
  {
    name: 'users not a table',
    edit: (t) => `users = 3\n${t.slice(0, t.indexOf('[users.alice]'))}`,
    key: 'users',
    expected: /expected a table, got 3/,
  },
  // Firewall keys: each only with its backend, each checked.
  {
    name: 'protect with iptables',
    edit: (t) => `protect = ["tcp/2222"]\n${t}`,
    key: 'protect',
    expected: /only with firewall = "nftables"/,
  },
  {
    name: 'protect with a bad port',
    edit: (t) => `protect = ["tcp/99999"]\n${nft(t)}`,
    key: 'protect',
    expected: /expected ports like "tcp\/22".*got "tcp\/99999"/,
  },
  { name: 'protect not an array', edit: (t) => `protect = "tcp/22"\n${nft(t)}`, key: 'protect', expected: /expected an array of ports/ },
  {
    name: 'protect with nft_set',
    edit: (t) => `protect = ["tcp/2222"]\nnft_set = "inet filter knockspa"\n${nft(t)}`,
    key: 'protect',
    expected: /not with nft_set/,
  },
  {
    name: 'nft_set with iptables',
    edit: (t) => `nft_set = "inet filter knockspa"\n${t}`,
    key: 'nft_set',
    expected: /only with firewall = "nftables"/,
  },
  {
    name: 'nft_set malformed',
    edit: (t) => `nft_set = "filter knockspa"\n${nft(t)}`,
    key: 'nft_set',
    expected: /"FAMILY TABLE SET".*got "filter knockspa"/,
  },
  {
    name: 'nft_set bad family',
    edit: (t) => `nft_set = "bridge filter knockspa"\n${nft(t)}`,
    key: 'nft_set',
    expected: /got "bridge filter knockspa"/,
  },
  {
    name: 'nft_set three sets',
    edit: (t) => `nft_set = ["ip f a", "ip6 f b", "inet f c"]\n${nft(t)}`,
    key: 'nft_set',
    expected: /an array of two/,
  },
  {
    name: 'nft_set two of one family',
    edit: (t) => `nft_set = ["ip f a", "ip f b"]\n${nft(t)}`,
    key: 'nft_set',
    expected: /one set per address family/,
  },
  {
    name: 'jump position with nftables',
    edit: (t) => `iptables_jump_position = 2\n${nft(t)}`,
    key: 'iptables_jump_position',
    expected: /only with firewall = "iptables"/,
  },
  {
    name: 'jump position zero',
    edit: (t) => `iptables_jump_position = 0\n${t}`,
    key: 'iptables_jump_position',
    expected: /expected an integer from 1/,
  },
  {
    name: 'sweep_interval zero',
    edit: (t) => `sweep_interval = 0\n${t}`,
    key: 'sweep_interval',
    expected: /expected an integer from 1 to 3600, got 0/,
  },
  {
    name: 'command without templates',
    edit: (t) => cmd(t, ''),
    key: 'firewall_command',
    expected: /a \[firewall_command\] table with open/,
  },
  {
    name: 'command with iptables',
    edit: (t) => `${t}\n[firewall_command]\nopen = "/bin/true"\nclose = "/bin/true"\n`,
    key: 'firewall_command',
    expected: /only with firewall = "command"/,
  },
  {
    name: 'command without close',
    edit: (t) => cmd(t, 'open = "/bin/true %IP%"'),
    key: 'firewall_command.close',
    expected: /expected a command template/,
  },
  {
    name: 'command unknown key',
    edit: (t) => cmd(t, 'open = "/bin/true"\nclose = "/bin/true"\ncheck = "/bin/true"'),
    key: 'firewall_command.check',
    expected: /unknown key; expected one of open, close/,
  },
  {
    name: 'command relative program',
    edit: (t) => cmd(t, 'open = "iptables -I INPUT -s %IP%"\nclose = "/bin/true"'),
    key: 'firewall_command.open',
    expected: /absolute path.*not "iptables"/,
  },
  {
    name: 'command unknown placeholder',
    edit: (t) => cmd(t, 'open = "/sbin/iptables -s %ADDR%"\nclose = "/bin/true"'),
    key: 'firewall_command.open',
    expected: /only the placeholders %IP% %PROTO% %PORT% %USER% %DURATION%, not %ADDR%/,
  },
  {
    name: 'command unterminated quote',
    edit: (t) => cmd(t, `open = "/bin/echo 'knock"\nclose = "/bin/true"`),
    key: 'firewall_command.open',
    expected: /an unterminated ' quote/,
  },
  {
    name: 'command placeholder in the program',
    edit: (t) => cmd(t, 'open = "/usr/%USER%/bin/x"\nclose = "/bin/true"'),
    key: 'firewall_command.open',
    expected: /the program without placeholders/,
  },
];

function nft(t: string): string {
  return t.replace('firewall = "iptables"', 'firewall = "nftables"');
}

function cmd(t: string, table: string): string {
  return `${t.replace('firewall = "iptables"', 'firewall = "command"')}\n${table === '' ? '' : `[firewall_command]\n${table}\n`}`;
}

for (const { name, edit, key, expected } of BAD) {
  test(`bad config: ${name}`, () => {
    const file = writeConfig(edit(GOOD));
    assertConfigError(() => loadConfig(file), file, key, expected);
  });
}

test("firewall settings: defaults, and each backend's keys", () => {
  const plain = loadConfig(writeConfig(GOOD));
  assert.equal(plain.firewallSettings.backend.name, 'iptables');
  assert.deepEqual(plain.firewallSettings.backend.settings, { jumpPosition: 1 });
  assert.deepEqual([plain.firewallSettings.protect, plain.firewallSettings.sweepIntervalSec], [[], 30]);
  const nftables = loadConfig(writeConfig(`protect = ["tcp/2222", "udp/53"]\nsweep_interval = 5\n${nft(GOOD)}`));
  assert.equal(nftables.firewall, 'nftables');
  assert.deepEqual(nftables.firewallSettings.backend.settings, { sets: [] });
  assert.deepEqual(nftables.firewallSettings.protect, [
    { proto: 'tcp', port: 2222 },
    { proto: 'udp', port: 53 },
  ]);
  assert.equal(nftables.firewallSettings.sweepIntervalSec, 5);
  const sets = loadConfig(writeConfig(`nft_set = ["inet filter knock4", "inet filter knock6"]\n${nft(GOOD)}`));
  assert.deepEqual(sets.firewallSettings.backend.settings, {
    sets: [
      { family: 'inet', table: 'filter', set: 'knock4' },
      { family: 'inet', table: 'filter', set: 'knock6' },
    ],
  });
  const one = loadConfig(writeConfig(`nft_set = "ip6 filter knockspa"\n${nft(GOOD)}`));
  assert.deepEqual(one.firewallSettings.backend.settings, { sets: [{ family: 'ip6', table: 'filter', set: 'knockspa' }] });
  assert.deepEqual(loadConfig(writeConfig(`iptables_jump_position = 3\n${GOOD}`)).firewallSettings.backend.settings, { jumpPosition: 3 });
  const command = loadConfig(
    writeConfig(
      cmd(
        GOOD,
        `open = "/usr/sbin/iptables -I INPUT -s %IP% -p %PROTO% --dport %PORT% -m comment --comment 'knockspa %USER% %DURATION%s' -j ACCEPT"\nclose = "/usr/sbin/iptables -D INPUT -s %IP% -p %PROTO% --dport %PORT% -j ACCEPT"`,
      ),
    ),
  );
  assert.deepEqual((command.firewallSettings.backend.settings as { open: { words: string[] } }).open.words, [
    '/usr/sbin/iptables',
    '-I',
    'INPUT',
    '-s',
    '%IP%',
    '-p',
    '%PROTO%',
    '--dport',
    '%PORT%',
    '-m',
    'comment',
    '--comment',
    'knockspa %USER% %DURATION%s',
    '-j',
    'ACCEPT',
  ]);
});

test('bad config: TOML syntax error names the file and the line', () => {
  const file = writeConfig('port = \n[users.alice]\nports = ["22"]\n');
  assert.throws(
    () => loadConfig(file),
    (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${file}: not valid TOML`) && /line 1/i.test(err.message),
  );
});

test('bad config: a missing file says to pass --config', () => {
  assert.throws(
    () => loadConfig('/nonexistent/knockspa.toml'),
    /\/nonexistent\/knockspa.toml: cannot read the config file \(ENOENT\); pass --config FILE/,
  );
});

test('kernel_screen: on by default, off with false, a bool only; the backends say whether they have one', () => {
  assert.equal(loadConfig(writeConfig(GOOD)).kernelScreen, true);
  assert.equal(loadConfig(writeConfig(`kernel_screen = false\n${GOOD}`)).kernelScreen, false);
  const file = writeConfig(`kernel_screen = "no"\n${GOOD}`);
  assertConfigError(() => loadConfig(file), file, 'kernel_screen', /true or false|bool/);
  assert.equal(loadConfig(writeConfig(nft(GOOD))).firewallSettings.backend.capabilities.screensSpaPort, true);
  const withSet = loadConfig(writeConfig(`nft_set = "inet filter knockspa"\n${nft(GOOD)}`));
  assert.notEqual(withSet.firewallSettings.backend.capabilities.screensSpaPort, true, 'not in the admin’s sets');
  assert.equal(loadConfig(writeConfig(GOOD)).firewallSettings.backend.capabilities.screensSpaPort, true, 'iptables: length and first byte');
  assert.notEqual(
    loadConfig(writeConfig(GOOD.replace('firewall = "iptables"', 'firewall = "dry-run"'))).firewallSettings.backend.capabilities
      .screensSpaPort,
    true,
    'not with dry-run',
  );
});
