// import-knockd: the documents' knockd config, Debian's packaged one, knockd(1)'s examples and the edge cases; output is valid TOML and a valid config.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../../../src/shared/errors.js';
import { validateConfig } from '../../../src/server/config/config.js';
import { parseKnockdConfig } from '../../../src/server/config/knockd-config.js';
import { runImportKnockd, translateKnockd, type ImportOptions, type Translation } from '../../../src/server/import-knockd.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../../../test/fixtures/knockd');

function translate(text: string, opts: ImportOptions = {}): Translation & { doc: Record<string, unknown> } {
  const t = translateKnockd(parseKnockdConfig('/etc/knockd.conf', text), opts);
  return { ...t, doc: parseToml(t.toml) };
}

/** The translated config as the daemon would load it (server_id given, since keys are bound to it). */
function asServerConfig(doc: Record<string, unknown>): ReturnType<typeof validateConfig> {
  return validateConfig('/etc/knockspa/server.toml', { server_id: 'srv.test', ...doc });
}

test("the documents' example: openSSH becomes tcp/22 for one user, closeSSH its close knock", () => {
  const t = translate(readFileSync(join(FIXTURES, 'documents.conf'), 'utf8'), { user: 'alice' });
  assert.deepEqual(t.untranslated, []);
  assert.equal(t.translated, 1);
  const config = asServerConfig(t.doc);
  assert.equal(config.firewall, 'iptables');
  assert.deepEqual([...config.users.keys()], ['alice']);
  assert.deepEqual(config.users.get('alice')?.ports, [{ proto: 'tcp', port: 22 }]);
  assert.equal(config.users.get('alice')?.maxDurationSec, 3600, 'knockd kept it open until the close knock');
  assert.match(
    t.toml,
    /\[openSSH\] \(was sequence 7000,8000,9000, seq_timeout 15, tcpflags syn\)\n# {5}-> opens tcp\/22 with iptables \/ ip6tables: knockspa open tcp\/22; closed by door \[closeSSH\]/,
  );
  assert.match(t.toml, /\[closeSSH\].*\n# {5}-> closes what \[openSSH\] opens: knockspa close tcp\/22/);
  assert.match(t.toml, /logfile = \/var\/log\/knockd\.log: knockspa logs JSON lines to stdout/);
});

test("Debian's packaged knockd.conf: SSH translates; openHTTPS (knock_add, never undone) does not, with the reason", () => {
  const t = translate(readFileSync(join(FIXTURES, 'debian-default.conf'), 'utf8'));
  const config = asServerConfig(t.doc);
  assert.deepEqual(config.users.get('knocker')?.ports, [{ proto: 'tcp', port: 22 }]);
  assert.deepEqual(
    t.untranslated.map((u) => u.door),
    ['openHTTPS'],
  );
  assert.match(t.untranslated[0]?.why ?? '', /nothing undoes its command for port tcp\/443/);
  assert.match(t.toml, /\[openHTTPS\].*\n# {5}NOT TRANSLATED: nothing undoes/);
  assert.match(t.toml, /usesyslog: knockspa logs JSON lines/);
});

test("knockd(1)'s examples: a timed start/stop pair with a port becomes a grant of cmd_timeout seconds; one without a port is refused", () => {
  const t = translate(`
[options]
     logfile = /var/log/knockd.log
     Interface = eth1

[opencloseSSH]
     sequence      = 2222:udp,3333:tcp,4444:udp
     seq_timeout   = 15
     tcpflags      = syn,ack
     start_command = /usr/sbin/iptables -A INPUT -s %IP% -p tcp --syn -j ACCEPT
     cmd_timeout   = 5
     stop_command  = /usr/sbin/iptables -D INPUT -s %IP% -p tcp --syn -j ACCEPT

[opencloseSMTP]
     one_time_sequences = /etc/knockd/smtp_sequences
     seq_timeout        = 15
     tcpflags           = fin,!ack
     start_command      = /usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 25 -j ACCEPT
     start_command_6    = /usr/sbin/ip6tables -A INPUT -s %IP% -p tcp --dport 25 -j ACCEPT
     cmd_timeout        = 5
     stop_command       = /usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 25 -j ACCEPT
     stop_command_6     = /usr/sbin/ip6tables -D INPUT -s %IP% -p tcp --dport 25 -j ACCEPT
`);
  const config = asServerConfig(t.doc);
  assert.deepEqual(config.users.get('knocker')?.ports, [{ proto: 'tcp', port: 25 }]);
  assert.equal(config.users.get('knocker')?.maxDurationSec, 5);
  assert.equal(config.defaultDurationSec, 5);
  assert.deepEqual(
    t.untranslated.map((u) => u.door),
    ['opencloseSSH'],
  );
  assert.match(t.untranslated[0]?.why ?? '', /no port in its command/);
  assert.match(t.toml, /closed by its stop_command after 5 s/);
  assert.match(t.toml, /its IPv6 commands are not used: knockspa runs ip6tables for IPv6 addresses itself/);
  assert.match(t.toml, /interface = eth1: knockd sniffed eth1; knockspa can too: listen = "pcap" with interface = "eth1"/);
  assert.match(t.toml, /one_time_sequences \/etc\/knockd\/smtp_sequences/);
});

test('other commands become a firewall = "command" template with %IP% %PROTO% %PORT%', () => {
  const t = translate(`
[openWeb]
  sequence = 1,2,3
  start_command = /usr/sbin/ufw allow from %IP% to any port 8080 proto tcp
  cmd_timeout = 60
  stop_command = /usr/sbin/ufw delete allow from %IP% to any port 8080 proto tcp
[openAlt]
  sequence = 4,5,6
  start_command = /usr/sbin/ufw allow from %IP% to any port 53 proto udp
  stop_command = /usr/sbin/ufw delete allow from %IP% to any port 53 proto udp
`);
  assert.deepEqual(t.untranslated, []);
  assert.equal(t.doc.firewall, 'command');
  assert.deepEqual(
    { ...(t.doc.firewall_command as object) },
    {
      open: '/usr/sbin/ufw allow from %IP% to any port %PORT% proto %PROTO%',
      close: '/usr/sbin/ufw delete allow from %IP% to any port %PORT% proto %PROTO%',
    },
  );
  assert.deepEqual({ ...(t.doc.users as Record<string, object>).knocker }, { ports: ['tcp/8080', 'udp/53'], max_duration: 60 });
  assert.equal(t.doc.default_duration, 10, 'openAlt has no cmd_timeout: knockd waits 10 s');
  assert.match(t.toml, /# firewall = "command" runs the doors' own commands/);
});

test('a command the command backend would refuse (no absolute path) is not translated, and says why', () => {
  const t = translate(`
[openWeb]
  sequence = 1,2,3
  start_command = ufw allow from %IP% to any port 8080 proto tcp
  stop_command = ufw delete allow from %IP% to any port 8080 proto tcp
`);
  assert.equal(t.untranslated.length, 1);
  assert.match(JSON.stringify(t.untranslated), /absolute path/);
});

test('what cannot be translated says why', () => {
  const t = translate(`
[noIp]
  sequence = 1,2,3
  command = /usr/sbin/iptables -A INPUT -p tcp --dport 22 -j ACCEPT
[shell]
  sequence = 1,2,4
  start_command = /usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 23 -j ACCEPT && logger opened
  stop_command = /usr/sbin/iptables -D INPUT -s %IP% -p tcp --dport 23 -j ACCEPT
[orphanClose]
  sequence = 3,2,1
  command = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT
[nothing]
  sequence = 9,9,9
[badTimeout]
  sequence = 5,5,5
  start_command = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 24 -j ACCEPT
  cmd_timeout = soon
  stop_command = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 24 -j ACCEPT
[commandToo]
  sequence = 6,6,6
  start_command = /usr/sbin/ufw allow from %IP% to any port 8080 proto tcp
  stop_command = /usr/sbin/ufw delete allow from %IP% to any port 8080 proto tcp
[openSSH]
  sequence = 7,8,9
  command = /sbin/iptables -I INPUT 1 -s %IP% -p tcp --dport 22 -j ACCEPT
`);
  const why = Object.fromEntries(t.untranslated.map((u) => [u.door, u.why]));
  assert.deepEqual(Object.keys(why).sort(), ['badTimeout', 'commandToo', 'noIp', 'nothing', 'orphanClose', 'shell']);
  assert.match(why.noIp ?? '', /does not use the knocker's address \(%IP%\)/);
  assert.match(why.shell ?? '', /shell syntax/);
  assert.match(why.orphanClose ?? '', /deletes a rule that no door adds/);
  assert.match(why.nothing ?? '', /no command/);
  assert.match(why.badTimeout ?? '', /cmd_timeout "soon" is not a number of seconds/);
  assert.match(why.commandToo ?? '', /needs firewall = "command", but the doors above use iptables/);
  const config = asServerConfig(t.doc);
  assert.deepEqual(config.users.get('knocker')?.ports, [{ proto: 'tcp', port: 22 }], "-I INPUT 1 is still the documents' rule");
  assert.equal(config.firewall, 'iptables');
});

test('nothing translatable: comments only (still valid TOML), exit 1, reasons on stderr', () => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-knockd-'));
  writeFileSync(join(dir, 'knockd.conf'), '[a]\nsequence = 1\ncommand = /bin/true\n');
  let out: string[] = [];
  let err: string[] = [];
  assert.equal(
    runImportKnockd(
      join(dir, 'knockd.conf'),
      {},
      (s) => out.push(s),
      (l) => err.push(l),
    ),
    1,
  );
  assert.deepEqual(Object.keys(parseToml(out.join(''))), [], 'comments only');
  assert.match(err.join('\n'), /\[a\] not translated: its command does not use the knocker's address/);
  assert.match(err.join('\n'), /no door of .*knockd\.conf could be translated \(1 in all\)/);

  out = [];
  err = [];
  const file = join(FIXTURES, 'debian-default.conf');
  assert.equal(
    runImportKnockd(
      file,
      { user: 'bob' },
      (s) => out.push(s),
      (l) => err.push(l),
    ),
    0,
  );
  assert.match(err.join('\n'), /\[openHTTPS\] not translated: nothing undoes/);
  assert.match(err.join('\n'), /2 of 3 doors translated\. Review the output, then: knockspa server --config FILE --check/);
  assert.match(out.join(''), /\[users\.bob\]/);
});

test('syntax errors name the file and the line or directive', () => {
  const bad: Array<[string, string, RegExp]> = [
    ['sequence = 1,2,3\n[a]\n', 'line 1', /expected a \[section\] first/],
    ['[a]\nsequence = 1\nsequence = 2\n', '[a] sequence', /given twice \(lines 2 and 3\)/],
    ['[a]\n[A]\n', 'line 2', /section \[A\] appears twice/],
    ['[a]\nthis is not = ok\n', 'line 2', /expected "directive = value"/],
  ];
  for (const [text, key, expected] of bad)
    assert.throws(
      () => parseKnockdConfig('/etc/knockd.conf', text),
      (err: unknown) => err instanceof ConfigError && err.file === '/etc/knockd.conf' && err.key === key && expected.test(err.message),
      text,
    );
  const ok = parseKnockdConfig('/etc/knockd.conf', '# comment\n[Options]\nUseSyslog\n[d]\n  Start_Command = x %IP%\n');
  assert.equal(ok.options?.directives.get('usesyslog')?.value, '');
  assert.equal(ok.doors[0]?.directives.get('start_command')?.value, 'x %IP%', 'directive names are case-insensitive');
});
