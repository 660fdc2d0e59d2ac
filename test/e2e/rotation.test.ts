/**
 * Keys over time, against the real daemon: after `keygen --rotate` and SIGHUP the old and the new
 * key both open; once the old file is removed (SIGHUP) its next knock is refused as unknown-key
 * while the new key still opens; revoking a user (files gone, with or without its config table,
 * SIGHUP) makes that user's next knock fail, and closes that user's open grants at once, as does
 * taking a port out of a user's ports.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, copyFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { canConnect } from '../lab/probes.js';
import { NODE } from '../lab/process.js';
import { e2eNet, PROTECTED_PORT, withScenario, type Scenario } from '../support/e2e.js';
import { CLI, grantRule, knockOk } from '../support/knockspa.js';
import { parseKeyFile } from '../../src/protocol/keyfile.js';

const keyIdOf = (file: string): string => Buffer.from(parseKeyFile(readFileSync(file, 'utf8')).keyId).toString('hex');

async function reload(s: Scenario): Promise<Record<string, unknown>> {
  const m = s.daemon.mark();
  s.daemon.proc.kill('SIGHUP');
  return s.daemon.waitEvent('reload', {}, { since: m });
}

/** Opens and closes tcp/22 with `key`; returns the accepted knock event. */
async function opens(s: Scenario, key: string): Promise<Record<string, unknown>> {
  const { net } = s;
  const m = s.daemon.mark();
  await knockOk(net, 'open', [String(PROTECTED_PORT)], { host: net.serverV4, key });
  const knock = await s.daemon.waitEvent('knock', { action: 'open' }, { since: m });
  await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
  await knockOk(net, 'close', [String(PROTECTED_PORT)], { host: net.serverV4, key });
  await s.daemon.waitEvent('close', { why: 'knock', ip: net.clientV4 }, { since: m });
  return knock;
}

async function refused(s: Scenario, key: string): Promise<Record<string, unknown>> {
  const { net } = s;
  const m = s.daemon.mark();
  await knockOk(net, 'open', [String(PROTECTED_PORT)], { host: net.serverV4, key });
  const reject = await s.daemon.waitEvent('reject', {}, { since: m });
  assert.equal(s.daemon.events('open', m).length, 0, 'nothing opened');
  await s.assertBase();
  return reject;
}

/** The user's copy of a key file (the test site's keys_dir is the server's). */
function clientCopy(s: Scenario, file: string): string {
  const copy = join(s.site.otherKeysDir, basename(file));
  copyFileSync(file, copy);
  chmodSync(copy, 0o600);
  return copy;
}

test('key rotation and revocation', { timeout: 180_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;

  await t.test('rotate: both keys open; remove the old file + SIGHUP: old refused (unknown-key), new opens', (t) =>
    withScenario(t, net, {}, async (s) => {
      const oldKey = clientCopy(s, s.site.keyPath('alice'));
      const r = await net.runOk(net.cli, [NODE, CLI, 'keygen', '--user', 'alice', '--rotate', '--out', s.site.keysDir]);
      const newName = readdirSync(s.site.keysDir).find((f) => /^alice\.\d{4}-\d{2}-\d{2}\.key$/.test(f));
      assert.ok(newName !== undefined, `a rotated key file was written:\n${r.stdout}`);
      const newKey = clientCopy(s, join(s.site.keysDir, newName));
      assert.match(r.stdout, new RegExp(`key id ${keyIdOf(newKey)}`));

      assert.equal((await opens(s, oldKey)).keyId, keyIdOf(oldKey));
      assert.equal((await refused(s, newKey)).reason, 'unknown-key', 'the new key is not loaded before SIGHUP');

      await reload(s);
      assert.equal((await opens(s, oldKey)).keyId, keyIdOf(oldKey), 'the old key still opens');
      const fresh = await opens(s, newKey);
      assert.equal(fresh.user, 'alice');
      assert.equal(fresh.keyId, keyIdOf(newKey), 'the knock event names the key used');

      rmSync(s.site.keyPath('alice'));
      await reload(s);
      const rejected = await refused(s, oldKey);
      assert.equal(rejected.reason, 'unknown-key');
      assert.equal((await opens(s, newKey)).keyId, keyIdOf(newKey), 'the new key still opens');
    }),
  );

  await t.test('revoke: delete the files (with or without the config table) + SIGHUP: the next knock fails', (t) =>
    withScenario(
      t,
      net,
      { users: { alice: { ports: ['tcp/22'] }, bob: { ports: ['tcp/22'] }, carol: { ports: ['tcp/22'] } } },
      async (s) => {
        const bob = clientCopy(s, s.site.keyPath('bob'));
        const carol = clientCopy(s, s.site.keyPath('carol'));
        await opens(s, bob);
        await opens(s, carol);

        // bob: files and table removed, as docs/operations.md says.
        rmSync(s.site.keyPath('bob'));
        const { bob: _bob, ...rest } = s.site.config.users ?? {};
        s.site.config = { ...s.site.config, users: rest };
        s.site.writeConfig();
        // carol: only the file removed; the reload must not keep her old key alive.
        rmSync(s.site.keyPath('carol'));
        const m = s.daemon.mark();
        const reloaded = await reload(s);
        assert.equal(reloaded.users, 2, 'alice and carol are configured, bob is gone');
        const warning = await s.daemon.waitEvent('key-warning', {}, { since: m });
        assert.match(String(warning.message), /no key file for user carol .* carol cannot knock/);

        assert.equal((await refused(s, bob)).reason, 'unknown-key');
        assert.equal((await refused(s, carol)).reason, 'unknown-key');
        await opens(s, s.site.keyPath('alice'));
      },
    ),
  );

  await t.test('revoke with grants open: the reload closes those of revoked users and removed ports at once, and keeps the rest', (t) =>
    withScenario(
      t,
      net,
      {
        users: {
          alice: { ports: ['tcp/22'] },
          bob: { ports: ['tcp/22'] },
          carol: { ports: ['tcp/22'] },
          dave: { ports: ['tcp/22', 'tcp/2222'] },
        },
      },
      async (s) => {
        // Each user's grant for an address of its own, so each is a rule of its own in the firewall.
        const users = { alice: net.clientV4, bob: '198.18.0.51', carol: '198.18.0.52', dave: '198.18.0.53' };
        const m0 = s.daemon.mark();
        for (const [user, ip] of Object.entries(users)) {
          const allowIp = ip === net.clientV4 ? {} : { allowIp: ip };
          await knockOk(net, 'open', [String(PROTECTED_PORT)], {
            host: net.serverV4,
            key: clientCopy(s, s.site.keyPath(user)),
            duration: 120,
            ...allowIp,
          });
          await s.daemon.waitEvent('open', { user, ip }, { since: m0 });
        }
        const rule = (ip: string): string => grantRule(ip, 'tcp', PROTECTED_PORT);
        assert.deepEqual((await s.extra(4)).sort(), Object.values(users).map(rule).sort(), 'four rules before the reload');
        // bob: table and files gone; carol: files gone; dave: tcp/22 taken out of his ports.
        rmSync(s.site.keyPath('bob'));
        rmSync(s.site.keyPath('carol'));
        const { bob: _bob, ...rest } = s.site.config.users ?? {};
        s.site.config = { ...s.site.config, users: { ...rest, dave: { ports: ['tcp/2222'] } } };
        s.site.writeConfig();
        const m = s.daemon.mark();
        await reload(s);
        for (const user of ['bob', 'carol', 'dave']) await s.daemon.waitEvent('close', { user, why: 'revoked' }, { since: m });
        assert.deepEqual(
          s.daemon
            .events('close', m)
            .map((e) => e.user)
            .sort(),
          ['bob', 'carol', 'dave'],
          'alice keeps hers',
        );
        assert.deepEqual(await s.extra(4), [rule(net.clientV4)], 'the other rules are out of the firewall, hers stays');
        assert.equal(await canConnect(net, net.cli, net.serverV4, PROTECTED_PORT), true);
      },
    ),
  );
});
