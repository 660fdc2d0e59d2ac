/**
 * Knocking with SSH keys (issue #20), with the real OpenSSH tools in the namespaces: ssh-keygen
 * makes an Ed25519 (passphrase-protected), an ECDSA P-256 and an RSA key; ssh-agent holds them
 * (ssh-add, the passphrase given through SSH_ASKPASS); the server has only their public keys and
 * its own server.key. The client knocks through the agent, the port opens, a real ssh gets in;
 * a replayed packet, a packet for another server's key, a key removed before a SIGHUP and a
 * flipped bit are refused, each with its reason in the log.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sendUdp } from '../lab/probes.js';
import { NODE, run, runOk } from '../lab/process.js';
import { OPENSSH_NEEDS } from '../lab/sshd.js';
import { e2eNet, withLog } from '../support/e2e.js';
import { CLI, eventually, SPA_PORT, startDaemon } from '../support/knockspa.js';
import { sshFingerprint, sshRig, startAgent } from '../support/ssh-rig.js';

const SSH_PORT = 2222;
const PASSPHRASE = 'correct horse battery staple';

test('SSH-key knocks through ssh-agent (real OpenSSH)', { timeout: 300_000 }, async (t) => {
  const net = await e2eNet(t, [...OPENSSH_NEEDS, 'ssh-agent', 'ssh-add']);
  if (net === null) return;
  const dir = mkdtempSync(join(tmpdir(), `knockspa-sshkeys-${net.id}-`));
  net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));

  // The user's keys, made by ssh-keygen; the Ed25519 one has a passphrase.
  const keys = { ed25519: join(dir, 'id_ed25519'), ecdsa: join(dir, 'id_ecdsa'), rsa: join(dir, 'id_rsa') };
  await runOk(null, ['ssh-keygen', '-q', '-t', 'ed25519', '-N', PASSPHRASE, '-C', 'alice-ed25519', '-f', keys.ed25519]);
  await runOk(null, ['ssh-keygen', '-q', '-t', 'ecdsa', '-b', '256', '-N', '', '-C', 'alice-ecdsa', '-f', keys.ecdsa]);
  await runOk(null, ['ssh-keygen', '-q', '-t', 'rsa', '-b', '3072', '-N', '', '-C', 'alice-rsa', '-f', keys.rsa]);
  const pubLine = (key: string): string => readFileSync(`${key}.pub`, 'utf8').trim();

  // ssh-agent with all three; the passphrase through SSH_ASKPASS, as a desktop would ask for it.
  const sock = await startAgent(net, dir);
  const askpass = join(dir, 'askpass');
  writeFileSync(askpass, `#!/bin/sh\necho '${PASSPHRASE}'\n`);
  chmodSync(askpass, 0o700);
  const agentEnv = { ...process.env, SSH_AUTH_SOCK: sock, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
  for (const key of [keys.ed25519, keys.ecdsa, keys.rsa]) await runOk(null, ['ssh-add', key], { env: agentEnv, input: '' });
  const listed = await runOk(null, ['ssh-add', '-l'], { env: agentEnv });
  assert.equal(listed.stdout.trim().split('\n').length, 3, `the agent holds the three keys\n${listed.stdout}`);

  // The server: base ruleset dropping ssh, sshd, server.key, alice's public keys (two inline, RSA in a file).
  const rsaKeysFile = (siteDir: string): string => join(siteDir, 'alice_rsa_keys');
  const rig = await sshRig(t, net, SSH_PORT, agentEnv, (siteDir) => {
    writeFileSync(rsaKeysFile(siteDir), `# alice's RSA key\n${pubLine(keys.rsa)}\n`);
    const ssh_keys = [pubLine(keys.ed25519), pubLine(keys.ecdsa)];
    return { alice: { ports: [`tcp/${SSH_PORT}`], max_duration: 300, ssh_keys, ssh_keys_file: rsaKeysFile(siteDir) } };
  });
  const { site, daemon, s, host, serverPub, open, openWait, login, closeAll } = rig;
  const otherPub = (await runOk(null, [NODE, CLI, 'keygen', '--server', '--out', mkdtempSync(join(dir, 'other-'))])).stdout.trim();
  assert.match(serverPub, /^[A-Za-z0-9+/]{43}=$/, 'keygen --server prints the public key as one line');
  assert.equal(readFileSync(join(site.dir, 'server.key'), 'utf8').includes(serverPub), true);
  await t.test('each key type through the agent: the port opens; the knock names format ssh and the key', async () => {
    await withLog(s, async () => {
      for (const key of [keys.ed25519, keys.ecdsa, keys.rsa]) assert.equal((await openWait(`${key}.pub`)).user, 'alice');
    });
  });

  await t.test(
    'a real ssh gets in with ProxyCommand knockspa connect, signing with the passphrase-protected key in the agent',
    async () => {
      await withLog(s, async () => {
        await closeAll();
        await login(`${keys.ed25519}.pub`, 'ssh-key-ok');
      });
    },
  );

  await t.test('without an agent: an unencrypted private key file signs; an encrypted one is refused with the fix', async () => {
    await withLog(s, async () => {
      await closeAll();
      const noAgent = { ...process.env };
      delete noAgent.SSH_AUTH_SOCK;
      const m = daemon.mark();
      const r = await open(keys.rsa, [], noAgent);
      assert.equal(r.code, 0, r.stderr);
      const knock = await daemon.waitEvent('knock', { action: 'open', format: 'ssh' }, { since: m });
      assert.equal(knock.sshKey, await sshFingerprint(`${keys.rsa}.pub`));
      const enc = await open(keys.ed25519, [], noAgent);
      assert.equal(enc.code, 2);
      assert.match(enc.stderr, /encrypted with a passphrase; add it to ssh-agent \(ssh-add KEY\)/);
    });
  });

  await t.test("refused with reasons: replay, bit flip, another server's key", async () => {
    await withLog(s, async () => {
      await closeAll();
      const dump = join(dir, 'packet.bin');
      let m = daemon.mark();
      const r = await open(`${keys.ecdsa}.pub`, ['--dump-packet', dump]);
      assert.equal(r.code, 0, r.stderr);
      await daemon.waitEvent('knock', { format: 'ssh' }, { since: m });
      const packet = new Uint8Array(readFileSync(dump));
      assert.equal(packet.length, 202, 'an ECDSA knock is 202 bytes');

      m = daemon.mark();
      await sendUdp(net, net.cli, host, SPA_PORT, packet);
      const replay = await daemon.waitEvent('reject', {}, { since: m });
      assert.equal(replay.reason, 'replay');
      assert.equal(replay.user, 'alice');
      assert.equal(replay.sshKey, await sshFingerprint(`${keys.ecdsa}.pub`));

      m = daemon.mark();
      const flipped = packet.slice();
      flipped[100]! ^= 0x10;
      await sendUdp(net, net.cli, host, SPA_PORT, flipped);
      assert.equal((await daemon.waitEvent('reject', {}, { since: m })).reason, 'bad-signature');

      m = daemon.mark();
      const other = await run(
        net.cli,
        [NODE, CLI, 'open', String(SSH_PORT), '--host', host, '--ssh-key', `${keys.ed25519}.pub`, '--server-key', otherPub],
        { env: agentEnv, timeoutMs: 30_000 },
      );
      assert.equal(other.code, 0, other.stderr);
      assert.equal((await daemon.waitEvent('reject', {}, { since: m })).reason, 'unknown-key', "a packet sealed to another server's key");
      assert.deepEqual(daemon.events('knock', m), [], 'nothing accepted');
    });
  });

  await t.test('a key removed from ssh_keys_file before SIGHUP is refused after the reload; the others still work', async () => {
    await withLog(s, async () => {
      await closeAll();
      // Replaced by another RSA-3072 key, so its length stays in the kernel screen (iptables, which
      // checks no key id): the removed key's packet reaches the daemon, which must refuse it.
      const newRsa = join(dir, 'id_rsa_new');
      await runOk(null, ['ssh-keygen', '-q', '-t', 'rsa', '-b', '3072', '-N', '', '-C', 'alice-rsa-new', '-f', newRsa]);
      writeFileSync(rsaKeysFile(site.dir), `# alice's new RSA key\n${pubLine(newRsa)}\n`);
      let m = daemon.mark();
      daemon.proc.kill('SIGHUP');
      await daemon.waitEvent('reload', {}, { since: m });
      m = daemon.mark();
      const r = await open(`${keys.rsa}.pub`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await daemon.waitEvent('reject', {}, { since: m })).reason, 'unknown-key');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(daemon.events('knock', m), [], 'the removed key opens nothing');
      m = daemon.mark();
      assert.equal((await open(`${keys.ecdsa}.pub`, ['--wait'])).code, 0);
      await daemon.waitEvent('knock', { format: 'ssh' }, { since: m });
    });
  });
  await t.test('nftables with the kernel screen: SSH knocks pass it; an unknown candidate id is dropped in the kernel', async () => {
    await daemon.stop();
    site.writeConfig({ firewall: 'nftables', sweep_interval: 2 });
    const nftDaemon = await startDaemon(net, site.configPath);
    t.after(() => nftDaemon.stop());
    await withLog({ daemons: [nftDaemon] }, async () => {
      const ruleset = (await runOk(net.srv, ['nft', 'list', 'chain', 'inet', 'knockspa', 'screen'])).stdout;
      assert.match(ruleset, /udp length 210 @th,64,8 != 0xcc/, `the screen knows the SSH length\n${ruleset}`);
      let m = nftDaemon.mark();
      const r = await open(`${keys.ed25519}.pub`);
      assert.equal(r.code, 0, r.stderr);
      const knock = await nftDaemon.waitEvent('knock', { format: 'ssh' }, { since: m });
      assert.equal(knock.sshKey, await sshFingerprint(`${keys.ed25519}.pub`));
      await nftDaemon.waitEvent('open', { ip: net.clientV4, port: SSH_PORT }, { since: m });

      const keyIdDrops = async (): Promise<number> => {
        const out = (await runOk(net.srv, ['nft', 'list', 'counter', 'inet', 'knockspa', 'screen_key_id'])).stdout;
        return Number(/packets (\d+)/.exec(out)?.[1] ?? NaN);
      };
      const before = await keyIdDrops();
      const dump = join(dir, 'nft-packet.bin');
      m = nftDaemon.mark();
      assert.equal((await open(`${keys.ed25519}.pub`, ['--dump-packet', dump])).code, 0);
      await nftDaemon.waitEvent('knock', { format: 'ssh' }, { since: m });
      const stranger = new Uint8Array(readFileSync(dump));
      stranger.set([1, 2, 3, 4, 5, 6, 7, 8], 2);
      m = nftDaemon.mark();
      await sendUdp(net, net.cli, host, SPA_PORT, stranger);
      assert.ok(await eventually(async () => (await keyIdDrops()) === before + 1, 5_000), 'counted by screen_key_id');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(nftDaemon.events('reject', m), [], 'never reached the daemon');
    });
  });
});
