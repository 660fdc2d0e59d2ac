/**
 * Knocking with security keys (issue #20), end to end with a software authenticator: OpenSSH's
 * own regress middleware sk-dummy (built from Debian's openssh source by scripts/sk-dummy.sh)
 * stands in for the hardware, through SSH_SK_PROVIDER. ssh-keygen makes an ed25519-sk and an
 * ecdsa-sk key, plus an ed25519-sk key with `-O no-touch-required`; ssh-agent (allowed to load
 * that middleware with -P) holds them; the client knocks through the agent, the port opens, a
 * real ssh gets in. sk-dummy sets the user-presence flag exactly when the key asks for a touch,
 * so the no-touch key's signatures lack it: refused as `touch-required` by default, accepted
 * after `require_touch = false` and a reload. No hardware: what a real key's firmware does is not tested here.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SSH_OFF_SIGNATURE } from '../../src/protocol/ssh/constants.js';
import { canConnect, sendUdp } from '../lab/probes.js';
import { runOk } from '../lab/process.js';
import { skDummyPath } from '../lab/requirements.js';
import { OPENSSH_NEEDS } from '../lab/sshd.js';
import { DROP_TIMEOUT_MS, e2eNet, withLog } from '../support/e2e.js';
import { SPA_PORT } from '../support/knockspa.js';
import { sshFingerprint, sshRig, startAgent } from '../support/ssh-rig.js';

const SSH_PORT = 2222;
/** The user-presence bit of a security key's flags: the first byte of the wire signature. */
const USER_PRESENCE = 0x01;

test('security-key knocks through ssh-agent, with OpenSSH sk-dummy as the authenticator', { timeout: 300_000 }, async (t) => {
  const net = await e2eNet(t, [...OPENSSH_NEEDS, 'ssh-agent', 'ssh-add', 'sk-dummy']);
  if (net === null) return;
  const provider = skDummyPath();
  const dir = mkdtempSync(join(tmpdir(), `knockspa-sk-${net.id}-`));
  net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));

  // The user's security keys, enrolled on the software authenticator (-w names the middleware).
  const keys = { ed25519: join(dir, 'id_ed25519_sk'), ecdsa: join(dir, 'id_ecdsa_sk'), noTouch: join(dir, 'id_notouch_sk') };
  const skEnv = { ...process.env, SSH_SK_PROVIDER: provider };
  const enroll = (type: string, file: string, comment: string, extra: string[] = []) =>
    runOk(null, ['ssh-keygen', '-q', '-t', type, '-w', provider, '-N', '', '-C', comment, ...extra, '-f', file], { env: skEnv, input: '' });
  await enroll('ed25519-sk', keys.ed25519, 'alice-ed25519-sk');
  await enroll('ecdsa-sk', keys.ecdsa, 'alice-ecdsa-sk');
  await enroll('ed25519-sk', keys.noTouch, 'alice-notouch-sk', ['-O', 'no-touch-required']);
  const pubLine = (key: string): string => readFileSync(`${key}.pub`, 'utf8').trim();
  assert.match(pubLine(keys.ed25519), /^sk-ssh-ed25519@openssh\.com /);
  assert.match(pubLine(keys.ecdsa), /^sk-ecdsa-sha2-nistp256@openssh\.com /);

  // ssh-agent may load only this middleware (-P); ssh-add records it with each key (-S).
  const sock = await startAgent(net, dir, ['-P', provider]);
  const agentEnv: NodeJS.ProcessEnv = { ...process.env, SSH_AUTH_SOCK: sock };
  for (const key of Object.values(keys)) await runOk(null, ['ssh-add', '-S', provider, key], { env: agentEnv, input: '' });
  const listed = await runOk(null, ['ssh-add', '-l'], { env: agentEnv });
  assert.equal(listed.stdout.trim().split('\n').length, 3, `the agent holds the three security keys\n${listed.stdout}`);
  assert.match(listed.stdout, /\(ED25519-SK\)/);
  assert.match(listed.stdout, /\(ECDSA-SK\)/);

  // The server: base ruleset dropping ssh, sshd, server.key, alice's three public keys; require_touch left at its default.
  const alice = { ports: [`tcp/${SSH_PORT}`], max_duration: 300, ssh_keys: Object.values(keys).map(pubLine) };
  const { site, daemon, s, host, open, openWait, login, closeAll } = await sshRig(t, net, SSH_PORT, agentEnv, () => ({ alice }));

  await t.test('ed25519-sk and ecdsa-sk through the agent: the port opens; the knock names format ssh and the key', async () => {
    await withLog(s, async () => {
      for (const key of [keys.ed25519, keys.ecdsa]) {
        const dump = join(dir, 'touched.bin');
        assert.equal((await openWait(`${key}.pub`, ['--dump-packet', dump])).user, 'alice');
        const flags = readFileSync(dump)[SSH_OFF_SIGNATURE] as number;
        assert.equal(flags & USER_PRESENCE, USER_PRESENCE, 'the authenticator reported a touch');
      }
    });
  });

  await t.test('a real ssh gets in with ProxyCommand knockspa connect, signing with the ecdsa-sk key in the agent', async () => {
    await withLog(s, async () => {
      await closeAll();
      await login(`${keys.ecdsa}.pub`, 'sk-key-ok');
    });
  });

  await t.test('the private key file of a security key is refused with the fix: it signs only through the agent', async () => {
    const noAgent = { ...process.env };
    delete noAgent.SSH_AUTH_SOCK;
    const r = await open(keys.ed25519, [], noAgent);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /a security key signs only on the device: add it to ssh-agent \(ssh-add KEY\) and pass KEY\.pub/);
  });

  await t.test('a signature without user presence: touch-required by default; accepted after require_touch = false', async () => {
    await withLog(s, async () => {
      await closeAll();
      let m = daemon.mark();
      const dump = join(dir, 'untouched.bin');
      const r = await open(`${keys.noTouch}.pub`, ['--dump-packet', dump]);
      assert.equal(r.code, 0, r.stderr);
      const packet = new Uint8Array(readFileSync(dump));
      assert.equal((packet[SSH_OFF_SIGNATURE] as number) & USER_PRESENCE, 0, 'no touch in the flags');
      const refused = await daemon.waitEvent('reject', {}, { since: m });
      assert.equal(refused.reason, 'touch-required');
      assert.equal(refused.user, 'alice');
      assert.equal(refused.sshKey, await sshFingerprint(`${keys.noTouch}.pub`));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(daemon.events('knock', m), [], 'nothing accepted');
      assert.equal(await canConnect(net, net.cli, host, SSH_PORT, { timeoutMs: DROP_TIMEOUT_MS }), false, 'the port stayed shut');

      // The flags are signed: setting the touch bit on the wire breaks the signature.
      m = daemon.mark();
      const forged = packet.slice();
      forged[SSH_OFF_SIGNATURE]! |= USER_PRESENCE;
      await sendUdp(net, net.cli, host, SPA_PORT, forged);
      assert.equal((await daemon.waitEvent('reject', {}, { since: m })).reason, 'bad-signature');
      assert.deepEqual(daemon.events('knock', m), [], 'a forged touch opens nothing');

      m = daemon.mark();
      site.writeConfig({ users: { alice: { ...alice, require_touch: false } } });
      daemon.proc.kill('SIGHUP');
      await daemon.waitEvent('reload', {}, { since: m });
      assert.equal((await openWait(`${keys.noTouch}.pub`)).user, 'alice');
      // The keys that touch still open with require_touch = false.
      assert.equal((await openWait(`${keys.ed25519}.pub`)).user, 'alice');
    });
  });
});
