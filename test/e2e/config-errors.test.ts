/**
 * (h) Bad configurations: `knockspa server --config F` exits 2 at once, says on stderr which file
 * and which key is wrong and what was expected, and touches no firewall rule.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { NODE } from '../lab/process.js';
import { baseRuleset, firewallSnapshot } from '../lab/ruleset.js';
import { e2eNet, PROTECTED_PORT } from '../support/e2e.js';
import { CLI, makeSite, SPA_PORT, toToml, type Site } from '../support/knockspa.js';

interface BadConfig {
  name: string;
  /** Breaks the (valid) site: rewrites its config or its key files. */
  apply(site: Site): void;
  /** What stderr must contain besides the config path: the key (or file) at fault, and what was expected. */
  mentions: Array<string | RegExp>;
  /** Whether stderr must name the config file (key-file errors may name the key file instead). */
  namesConfig?: boolean;
}

const withLine = (site: Site, line: string): string => {
  const text = toToml(site.config);
  const at = text.indexOf('\n[users.');
  return `${text.slice(0, at)}\n${line}${text.slice(at)}`;
};
const replaced = (site: Site, from: RegExp, to: string): string => {
  const text = toToml(site.config);
  assert.match(text, from);
  return text.replace(from, to);
};

const CASES: BadConfig[] = [
  { name: 'unknown key prot = 1', apply: (s) => s.writeRawConfig(withLine(s, 'prot = 1')), mentions: ['prot', /expected/i] },
  { name: 'port = 70000', apply: (s) => s.writeRawConfig(replaced(s, /^port = \d+$/m, 'port = 70000')), mentions: [/\bport\b/, /65535/] },
  {
    name: 'firewall = "ipchains"',
    apply: (s) => s.writeRawConfig(replaced(s, /^firewall = .*$/m, 'firewall = "ipchains"')),
    mentions: ['firewall', /iptables/],
  },
  {
    name: 'users.alice.ports = ["tcp/0"]',
    apply: (s) => s.writeRawConfig(replaced(s, /^ports = .*$/m, 'ports = ["tcp/0"]')),
    mentions: [/users\.alice\.ports|ports/, /tcp\/0|1\.\.65535|expected/],
  },
  {
    name: 'missing key file',
    apply: (s) => rmSync(s.keyPath('alice')),
    mentions: ['alice.key'],
    namesConfig: false,
  },
  {
    name: 'key file mode 0644',
    apply: (s) => chmodSync(s.keyPath('alice'), 0o644),
    mentions: ['alice.key', /600/],
    namesConfig: false,
  },
  { name: 'bad TOML syntax', apply: (s) => s.writeRawConfig(replaced(s, /^listen = "udp"$/m, 'listen = "udp')), mentions: [/line|:\d+/i] },
  {
    name: 'max_skew = "30"',
    apply: (s) => s.writeRawConfig(replaced(s, /^max_skew = 30$/m, 'max_skew = "30"')),
    mentions: ['max_skew', /integer/i],
  },
];

test('config errors', { timeout: 180_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  await baseRuleset(net, PROTECTED_PORT, { spaPort: SPA_PORT, udpMode: true });

  for (const c of CASES) {
    await t.test(`(h) ${c.name}: exit 2, names the key, firewall untouched`, async () => {
      const site = await makeSite(net);
      c.apply(site);
      const before = await firewallSnapshot(net, net.srv);
      const r = await net.run(net.srv, [NODE, CLI, 'server', '--config', site.configPath], { timeoutMs: 15_000 });
      const report = `exit ${r.timedOut ? 'none (still running after 15 s, killed)' : r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout}\nconfig:\n${toToml(site.config)}`;
      assert.equal(r.code, 2, `exit code 2 for a config error\n${report}`);
      if (c.namesConfig ?? true)
        assert.ok(r.stderr.includes(site.configPath), `stderr names the config file ${site.configPath}\n${report}`);
      for (const want of c.mentions) {
        if (typeof want === 'string') assert.ok(r.stderr.includes(want), `stderr mentions ${JSON.stringify(want)}\n${report}`);
        else assert.match(r.stderr, want, `stderr matches ${want}\n${report}`);
      }
      assert.ok(!r.stdout.includes('"event":"start"'), `never started\n${report}`);
      assert.deepEqual(await firewallSnapshot(net, net.srv), before, 'server-namespace rules unchanged');
    });
  }
});
