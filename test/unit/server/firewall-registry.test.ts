// The firewall registry: each backend describes itself (name, keys, reader, capabilities, make) in
// its own file; config validation, the daemon's choices and the commands go by that description,
// never by a backend's name. A backend defined here, in the test, goes through the same paths.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError } from '../../../src/shared/errors.js';
import { validateConfig } from '../../../src/server/config/config.js';
import { defineBackend, stateMustBeDurable, type Capabilities } from '../../../src/server/firewall/backend.js';
import { FirewallError, SetupError } from '../../../src/server/firewall/firewall.js';
import { BACKENDS, DEFAULT_BACKEND, makeFirewall } from '../../../src/server/firewall/registry.js';
import { asConfigError } from '../../../src/server/firewall/settings.js';
import { runGrants } from '../../../src/server/list-grants.js';
import { assertConfigError } from '../../support/config-error.js';
import { FakeFirewall } from '../../support/fake-firewall.js';

const FILE = '/etc/knockspa/server.toml';
const USERS = { alice: { ports: ['tcp/22'] } };
const validate = (doc: Record<string, unknown>, backends = BACKENDS) =>
  validateConfig(FILE, { server_id: 'srv.test', users: USERS, ...doc }, backends);
const backendsNamed = (): string[] => BACKENDS.map((b) => b.name);

/** A backend of the test's own: one key, capabilities unlike any real backend's. */
const seen: { keys: string[] } = { keys: [] };
const FAKE_CAPS: Capabilities = { lists: false, outlivesReboot: true, protectsPorts: true, opensPorts: true };
const fakeBackend = defineBackend<{ level: number }>({
  name: 'fake',
  keys: ['fake_level'],
  read: (r) => {
    seen.keys = ['fake_level', 'port', 'firewall', 'users'].filter((k) => r.value(k) !== undefined);
    return { level: r.int('fake_level', 1, 9, 5) };
  },
  readProtect: () => [{ proto: 'udp', port: 9 }],
  capabilities: FAKE_CAPS,
  make: () => new FakeFirewall(),
});
const WITH_FAKE = [...BACKENDS, fakeBackend];

test("registry: one entry per name; the default is one of them; each backend's keys are its own", () => {
  assert.equal(new Set(backendsNamed()).size, BACKENDS.length);
  assert.ok(backendsNamed().includes(DEFAULT_BACKEND));
  for (const name of ['nftables', 'iptables', 'command', 'dry-run']) assert.ok(backendsNamed().includes(name), name);
  const keys = BACKENDS.flatMap((b) => b.keys);
  assert.equal(new Set(keys).size, keys.length, 'no key is read by two backends');
});

test('registry: an unknown firewall is refused, naming every backend of the registry', () => {
  const err = assertConfigError(() => validate({ firewall: 'ipchains' }), FILE, 'firewall', /got "ipchains"/);
  for (const name of backendsNamed()) assert.ok(err.message.includes(`"${name}"`), `${name} is offered: ${err.message}`);
  assertConfigError(() => validate({ firewall: 'fake' }), FILE, 'firewall', /got "fake"/);
  assert.equal(validate({ firewall: 'fake' }, WITH_FAKE).firewall, 'fake', 'a backend in the list passed is a choice');
});

test('registry: every key of another backend is refused, naming the backend that takes it', () => {
  for (const chosen of WITH_FAKE) {
    for (const other of WITH_FAKE) {
      if (other === chosen) continue;
      for (const key of other.keys) {
        assertConfigError(
          () => validate({ firewall: chosen.name, [key]: 'x' }, WITH_FAKE),
          FILE,
          key,
          new RegExp(`only with firewall = "${other.name}"; remove it or change firewall`),
        );
      }
    }
  }
});

test('registry: a backend reads only its own keys, through a reader that refuses bad values like any', () => {
  const config = validate({ firewall: 'fake', fake_level: 7, port: 4000 }, WITH_FAKE);
  assert.deepEqual(seen.keys, ['fake_level'], 'it sees its key and none of the rest of the config');
  assert.deepEqual(config.firewallSettings.backend.settings, { level: 7 });
  assert.deepEqual(config.firewallSettings.backend.capabilities, FAKE_CAPS);
  assert.deepEqual(config.firewallSettings.protect, [{ proto: 'udp', port: 9 }], 'the ports it says it drops');
  assert.equal(config.port, 4000);
  assertConfigError(
    () => validate({ firewall: 'fake', fake_level: 12 }, WITH_FAKE),
    FILE,
    'fake_level',
    /expected an integer from 1 to 9, got 12/,
  );
  assert.ok(makeFirewall(config, pino({ enabled: false })) instanceof FakeFirewall, 'the registry builds what the backend makes');
});

test("capabilities, not names: the state file is fsync'd for what cannot be listed and may outlive a reboot", () => {
  const commandConfig = { firewall_command: { open: '/bin/true', close: '/bin/true' } };
  for (const [name, durable] of [
    ['command', true],
    ['nftables', false],
    ['iptables', false],
    ['dry-run', false],
  ] as const) {
    const config = validate({ firewall: name, ...(name === 'command' ? commandConfig : {}) });
    assert.equal(stateMustBeDurable(config.firewallSettings.backend.capabilities), durable, name);
  }
  assert.equal(stateMustBeDurable(validate({ firewall: 'fake' }, WITH_FAKE).firewallSettings.backend.capabilities), true);
  assert.equal(stateMustBeDurable({ ...FAKE_CAPS, lists: true }), false, 'listed back from the firewall: no need');
  assert.equal(stateMustBeDurable({ ...FAKE_CAPS, outlivesReboot: false }), false, 'gone with a reboot: no need');
});

test("capabilities, not names: nftables drops ports itself in its own table, not when it fills the admin's sets", () => {
  assert.equal(validate({ firewall: 'nftables' }).firewallSettings.backend.capabilities.protectsPorts, true);
  assert.equal(
    validate({ firewall: 'nftables', nft_set: 'inet filter knockspa' }).firewallSettings.backend.capabilities.protectsPorts,
    false,
  );
  assert.equal(validate({ firewall: 'iptables' }).firewallSettings.backend.capabilities.protectsPorts, false);
});

test('capabilities, not names: `knockspa grants --from firewall` is refused (exit 2) for a backend that cannot list', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-registry-'));
  const file = join(dir, 'server.toml');
  writeFileSync(file, 'firewall = "dry-run"\nserver_id = "s"\n[users.alice]\nports = ["22"]\n');
  const written: string[] = [];
  t.mock.method(process.stderr, 'write', (chunk: string) => (written.push(chunk), true));
  const code = await runGrants({ config: file, from: 'firewall' });
  t.mock.restoreAll();
  assert.equal(code, 2);
  assert.match(written.join(''), /--from firewall: the dry-run backend cannot list what it did; use --from state/);
});

test('a SetupError becomes the ConfigError naming the config file and the key; other errors pass as they are', async () => {
  await assert.rejects(Promise.reject(new SetupError('nft_set', 'an existing set')).catch(asConfigError(FILE)), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, `${FILE}: nft_set: an existing set`);
    return true;
  });
  const tool = new FirewallError(['nft'], 'denied', 1);
  await assert.rejects(Promise.reject(tool).catch(asConfigError(FILE)), (err: unknown) => err === tool);
});

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

test("no code outside a backend's own file compares a backend's name", () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
  const names = backendsNamed()
    .map((n) => n.replace(/[-]/g, '\\-'))
    .join('|');
  // `config.firewall === 'command'`, `firewall.name !== "dry-run"`, `case 'nftables':` and the like.
  const quoted = `['"\`](${names})['"\`]`;
  const compared = new RegExp(
    `(firewall|name)\\w*\\)?\\s*[!=]==?\\s*${quoted}|${quoted}\\s*[!=]==?\\s*[\\w.]*(firewall|name)|case\\s+${quoted}`,
    'i',
  );
  const found: string[] = [];
  for (const file of sources(join(root, 'src'))) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (compared.test(line)) found.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.ok(sources(join(root, 'src')).length > 50, 'the sources were found');
  assert.deepEqual(found, []);
});
