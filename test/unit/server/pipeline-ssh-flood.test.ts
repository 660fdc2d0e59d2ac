// SSH-key knocks under a flood of bad signatures, on a fake clock with the real verifiers and a fake
// firewall: a signature check takes PUBLIC_KEY_COST daemon-wide tokens, so failing sources get that
// many times fewer checks than HMACs; a valid SSH-key knock from a clean source still opens.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { FwknopKeyring, FwknopVerifier } from '../../../src/protocol/fwknop/index.js';
import { Keyring, ReplayGuard, Verifier } from '../../../src/protocol/index.js';
import { SSH_OFF_BODY } from '../../../src/protocol/ssh/index.js';
import { PUBLIC_KEY_COST } from '../../../src/server/intake/auth-budget.js';
import { PacketFormats } from '../../../src/server/intake/formats.js';
import { pipelineRig } from '../../support/pipeline-rig.js';
import { KEYS, NOW, knock, makeSshVerifier } from '../protocol/ssh/fixtures.js';

const GLOBAL = 2_000;
const SOURCES = 64;
const ED25519 = KEYS[0]!;

function setup(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const now = (): number => NOW;
  const ssh = makeSshVerifier([['bob', ED25519, false]]);
  let checks = 0;
  const authenticate = ssh.authenticate.bind(ssh);
  ssh.authenticate = (...args) => {
    checks++;
    return authenticate(...args);
  };
  const replay = new ReplayGuard(1024);
  const { send, settle, fw } = pipelineRig({
    now,
    globalPerSec: GLOBAL,
    formats: new PacketFormats(
      new Verifier({ keyring: new Keyring(), serverId: 'srv.test', maxSkewMs: 30_000, replay }),
      new FwknopVerifier({ keyring: new FwknopKeyring(), maxSkewMs: 30_000, replay }),
      ssh,
    ),
    users: new Map([
      [
        'bob',
        { name: 'bob', ports: [{ proto: 'tcp' as const, port: 22 }], maxDurationSec: 300, requireIp: false, format: 'knockspa' as const },
      ],
    ]),
  });
  return { send, settle, fw, checks: () => checks };
}

test("bad signatures under bob's candidate id from 64 sources: signature checks bounded by the cap / PUBLIC_KEY_COST; bob's knock opens", async (t) => {
  const { send, settle, fw, checks } = setup(t);
  const forged = knock(ED25519, { n: 5 });
  forged[SSH_OFF_BODY]! ^= 1; // the signature covers the body: a full check that fails
  for (let i = 0; i < 10_000; i++) send(forged, `198.18.0.${100 + (i % SOURCES)}`);
  // Each source's first packet is clean; the rest share the cap, PUBLIC_KEY_COST tokens a check
  // (2,000 checks with one token each, as before the cost).
  const bound = SOURCES + GLOBAL / PUBLIC_KEY_COST;
  assert.ok(checks() <= bound, `${checks()} signature checks for 10,000 packets (bound ${bound})`);
  assert.ok(checks() >= GLOBAL / PUBLIC_KEY_COST, `the cap was used: ${checks()}`);

  send(knock(ED25519, { n: 6 }), '198.18.0.2');
  await settle();
  assert.deepEqual([...fw.rules], ['198.18.0.2 tcp/22'], "bob's knock from a clean source opened");
});
