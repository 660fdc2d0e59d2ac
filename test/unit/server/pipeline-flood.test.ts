// The pipeline under a junk flood, on a fake clock with the real verifier and a fake firewall:
// HMAC work stays within the budget, over-budget drops are counted not logged, and a valid knock
// from a source that sent no junk still opens.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { FwknopKeyring, FwknopVerifier } from '../../../src/protocol/fwknop/index.js';
import { Keyring, PACKET_SIZE, ReplayGuard, sealPacket, Verifier } from '../../../src/protocol/index.js';
import { SOURCE_FAILURES, SOURCE_REFILL_PER_SEC } from '../../../src/server/intake/auth-budget.js';
import { PacketFormats } from '../../../src/server/intake/formats.js';
import { pipelineRig } from '../../support/pipeline-rig.js';
import { ALICE, nonceOf, OPEN_SSH, SERVER } from '../protocol/fixtures.js';

function setup(t: TestContext, globalPerSec = 200) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = OPEN_SSH.timestampMs;
  const now = (): number => clock;
  const keyring = new Keyring();
  keyring.add(ALICE);
  const replay = new ReplayGuard(1024);
  const verifier = new Verifier({ keyring, serverId: SERVER, maxSkewMs: 30_000, replay });
  let hmacs = 0;
  const authenticate = verifier.authenticate.bind(verifier);
  verifier.authenticate = (...args) => {
    hmacs++;
    return authenticate(...args);
  };
  const { send, settle, fw, rejects, captured } = pipelineRig({
    now,
    globalPerSec,
    formats: new PacketFormats(verifier, new FwknopVerifier({ keyring: new FwknopKeyring(), maxSkewMs: 30_000, replay })),
    users: new Map([
      ['alice', { name: 'alice', ports: OPEN_SSH.ports, maxDurationSec: 300, requireIp: false, format: 'knockspa' as const }],
    ]),
  });
  return { send, settle, fw, rejects, captured, hmacs: () => hmacs, advance: (ms: number) => void (clock += ms) };
}

/** Alice's key id with a tag that cannot be right: costs one HMAC to refuse. */
const forged = ((): Uint8Array => {
  const p = sealPacket(ALICE, OPEN_SSH, nonceOf(99));
  p[PACKET_SIZE - 1]! ^= 0x55;
  return p;
})();

test('a flood of bad tags from many sources: HMACs bounded, a clean source opens, drops are summed up', async (t) => {
  const { send, settle, fw, rejects, captured, hmacs } = setup(t, 200);
  const SOURCES = 1_000;
  for (let round = 0; round < 50; round++) for (let i = 0; i < SOURCES; i++) send(forged, `198.18.${100 + (i >> 8)}.${i & 255}`);
  // First packet of each source (clean) plus at most the daemon-wide cap for the rest.
  assert.ok(hmacs() <= SOURCES + 200, `${hmacs()} HMACs for ${50 * SOURCES} packets`);

  send(sealPacket(ALICE, OPEN_SSH, nonceOf(1)), '198.18.0.2');
  await settle();
  assert.deepEqual([...fw.rules], ['198.18.0.2 tcp/22'], 'the valid knock from a clean source opened');

  assert.ok(captured.events('reject').length <= 50, 'rejections are rate-limited in the log');
  rejects.flush();
  const [summary] = captured.events('reject-suppressed');
  const reasons = summary?.reasons as Record<string, number>;
  assert.equal(reasons['over-budget'], 50 * SOURCES - (hmacs() - 1), 'every packet refused before the HMAC is counted as over-budget');
  assert.equal(captured.events('reject').filter((l) => l.reason === 'over-budget').length, 0, 'and none is logged one by one');
});

test("a slow spoofed flood from the user's own address (10 a second) never holds her back", async (t) => {
  const { send, settle, fw, advance } = setup(t);
  for (let second = 0; second < 9; second++) {
    for (let i = 0; i < 10; i++) send(forged, '198.18.0.2');
    advance(1_000);
  }
  send(sealPacket(ALICE, { ...OPEN_SSH, timestampMs: OPEN_SSH.timestampMs + 9_000 }, nonceOf(4)), '198.18.0.2');
  await settle();
  assert.deepEqual([...fw.rules], ['198.18.0.2 tcp/22'], 'her knock opens');
});

test("a spoofed flood from the user's own address faster than the daemon-wide cap holds her back only until it stops plus a few seconds", async (t) => {
  const { send, settle, fw, advance } = setup(t);
  for (let i = 0; i < 10_000; i++) send(forged, '198.18.0.2');
  send(sealPacket(ALICE, OPEN_SSH, nonceOf(2)), '198.18.0.2');
  await settle();
  assert.equal(fw.rules.size, 0, 'during the flood her knock is dropped before the HMAC');

  advance((SOURCE_FAILURES / SOURCE_REFILL_PER_SEC) * 1_000);
  send(sealPacket(ALICE, { ...OPEN_SSH, timestampMs: OPEN_SSH.timestampMs + 4_000 }, nonceOf(3)), '198.18.0.2');
  await settle();
  assert.deepEqual([...fw.rules], ['198.18.0.2 tcp/22'], 'a few seconds after the flood her knock opens');
});

test('cheap rejects (unknown key, bad length) never reach the HMAC nor the budget', async (t) => {
  const { send, hmacs, rejects, captured } = setup(t);
  const unknown = forged.slice();
  unknown[2]! ^= 0xff;
  for (let i = 0; i < 1_000; i++) {
    send(unknown, `198.18.1.${i & 255}`);
    send(forged.subarray(0, 100), `198.18.2.${i & 255}`);
  }
  assert.equal(hmacs(), 0);
  rejects.flush();
  const reasons = { ...(captured.events('reject-suppressed')[0]?.reasons as Record<string, number>) };
  for (const l of captured.events('reject')) reasons[String(l.reason)] = (reasons[String(l.reason)] ?? 0) + 1;
  assert.deepEqual(reasons, { 'unknown-key': 1_000, 'bad-length': 1_000 });
});
