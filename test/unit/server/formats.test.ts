// One port, two formats: the dispatch before any crypto, a fwknop knock through the pipeline to a
// grant (fake firewall), the shared replay guard, and the pipeline's budgets between screen and
// HMAC: the daemon-wide fwknop trial budget (kept across reloads) and the per-source budget.
import { AddressPolicy } from '../../../src/server/intake/address-policy.js';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Keyring } from '../../../src/protocol/keyring.js';
import { sealPacket } from '../../../src/protocol/packet.js';
import { ReplayGuard } from '../../../src/protocol/replay.js';
import { PACKET_SIZE } from '../../../src/protocol/constants.js';
import { MIN_PACKET_LENGTH, sealFwknopPacket } from '../../../src/protocol/fwknop/index.js';
import { loadConfig, type ServerConfig } from '../../../src/server/config/config.js';
import { AuthBudget, FWKNOP_TRIALS, OVER_BUDGET, TrialBudget } from '../../../src/server/intake/auth-budget.js';
import { looksLikeFwknop, packetFormats } from '../../../src/server/intake/formats.js';
import { Applier } from '../../../src/server/grants/applier.js';
import { Pipeline, type PipelineOptions } from '../../../src/server/intake/pipeline.js';
import { RejectLog } from '../../../src/server/intake/reject-log.js';
import { captureLog } from '../../support/capture-log.js';
import { FakeFirewall } from '../../support/fake-firewall.js';
import { ALICE, OPEN_SSH, nonceOf } from '../protocol/fixtures.js';
import { ALICE_KEYS, FIELDS, NOW } from '../fwknop/fixtures.js';

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function config(extraUsers = ''): ServerConfig {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-formats-'));
  const file = join(dir, 'server.toml');
  writeFileSync(
    file,
    `server_id = "spa.example.net"\n[users.alice]\nports = ["tcp/22"]\n` +
      `[users.carol]\nports = ["tcp/22", "udp/53"]\nmax_duration = 60\nformat = "fwknop"\n` +
      `fwknop_key_base64 = "${b64(ALICE_KEYS.encKey)}"\nfwknop_hmac_key_base64 = "${b64(ALICE_KEYS.hmacKey)}"\n${extraUsers}`,
    { mode: 0o600 },
  );
  return loadConfig(file);
}

function keyring(): Keyring {
  const ring = new Keyring();
  ring.add(ALICE);
  return ring;
}

const fwknopPacket = (over: Partial<typeof FIELDS> = {}, salt = 1): Uint8Array =>
  bytes(sealFwknopPacket(ALICE_KEYS, { ...FIELDS, ...over }, new Uint8Array(8).fill(salt)));

test('dispatch: 0xCB or shorter than 161 bytes is knockspa; base64 text from 161 bytes on is fwknop', () => {
  assert.equal(looksLikeFwknop(sealPacket(ALICE, OPEN_SSH, nonceOf(1))), false);
  assert.equal(looksLikeFwknop(fwknopPacket()), true);
  assert.equal(looksLikeFwknop(bytes('A'.repeat(PACKET_SIZE))), false, 'base64 of knockspa length');
  assert.equal(looksLikeFwknop(bytes('A'.repeat(MIN_PACKET_LENGTH - 1))), false);
  assert.equal(looksLikeFwknop(bytes('A'.repeat(MIN_PACKET_LENGTH))), true);
  assert.equal(looksLikeFwknop(bytes(`*${'A'.repeat(300)}`)), false);
  const formats = packetFormats(config(), keyring(), new ReplayGuard(1000));
  assert.equal(formats.verify(bytes('A'.repeat(PACKET_SIZE)), NOW), 'bad-magic', 'knockspa reasons for knockspa-sized junk');
  assert.equal(formats.verify(bytes('A'.repeat(300)), NOW), 'fwknop-bad-mac');
  assert.equal(formats.verify(new Uint8Array(5000), NOW), 'bad-length');
});

test('both formats verify through one PacketFormats and share the replay guard', () => {
  const replay = new ReplayGuard(1000);
  const formats = packetFormats(config(), keyring(), replay);
  const knock = formats.verify(sealPacket(ALICE, OPEN_SSH, nonceOf(2)), NOW);
  assert.equal(typeof knock === 'object' && knock.user, 'alice');
  assert.equal(typeof knock === 'object' && knock.format, undefined);
  const fw = formats.verify(fwknopPacket(), NOW);
  assert.equal(typeof fw === 'object' && fw.user, 'carol');
  assert.equal(typeof fw === 'object' && fw.format, 'fwknop');
  assert.equal(replay.size, 2);
  assert.equal(formats.verify(fwknopPacket(), NOW), 'fwknop-replay');
});

/** What the pipeline did with each packet: a reject reason, a tally (over-budget), or "submitted". */
class Outcomes extends RejectLog {
  readonly seen: string[] = [];
  override reject(reason: string): void {
    this.seen.push(reason);
  }
  override tally(reason: string): void {
    this.seen.push(reason);
  }
}

function pipelineOf(cfg: ServerConfig, opts: { now?: () => number; trials?: TrialBudget; budget?: AuthBudget } = {}) {
  const now = opts.now ?? (() => NOW);
  const outcomes = new Outcomes(captureLog().log, now);
  const budget = opts.budget ?? new AuthBudget({ now });
  const applier: PipelineOptions['applier'] = {
    submit: async (events) => {
      outcomes.seen.push('submitted');
      return events.map(() => true);
    },
  };
  const pipeline = new Pipeline(
    {
      log: captureLog().log,
      rejects: outcomes,
      budget,
      trials: opts.trials ?? new TrialBudget(now),
      applier,
      now,
      addresses: new AddressPolicy({ loopback: false, linkLocal: false, interfaces: () => ({}) }),
    },
    { formats: packetFormats(cfg, keyring(), new ReplayGuard(100_000, 100_000)), users: cfg.users, defaultDurationSec: 30, notBeforeMs: 0 },
  );
  const send = (payload: Uint8Array, source = '198.18.0.2'): string | undefined => {
    pipeline.handle({ payload, source, sourcePort: 40000 });
    return outcomes.seen.at(-1);
  };
  return { pipeline, outcomes, budget, send };
}

/** A fresh source per packet: the per-source budget never holds one back. */
const nthSource = (i: number): string => `198.19.${i >> 8}.${i & 255}`;

test('the fwknop trial budget: one token per fwknop user per packet, refilled over time', () => {
  let now = NOW;
  // Two fwknop users: each packet costs 2 trials.
  const two = config(
    `[users.dave]\nports = ["tcp/22"]\nformat = "fwknop"\nfwknop_key_base64 = "${b64(new Uint8Array(32).fill(3))}"\nfwknop_hmac_key_base64 = "${b64(new Uint8Array(64).fill(4))}"\n`,
  );
  const { send } = pipelineOf(two, { now: () => now });
  const junk = bytes('A'.repeat(300));
  let refused = 0;
  for (let i = 0; i < FWKNOP_TRIALS.capacity / 2; i++) if (send(junk, nthSource(i)) !== 'fwknop-bad-mac') refused++;
  assert.equal(refused, 0, 'the whole capacity is usable');
  assert.equal(send(junk, nthSource(60_000)), 'fwknop-rate-limited');
  assert.equal(send(sealPacket(ALICE, OPEN_SSH, nonceOf(3))), 'submitted', 'knockspa packets are not budgeted');
  now += 1; // a millisecond refills 10 trials
  assert.equal(send(fwknopPacket()), 'submitted');
});

test('the trial budget outlives a reload (a new policy does not refill it)', () => {
  const trials = new TrialBudget(() => NOW);
  const junk = bytes('A'.repeat(300));
  const { pipeline, send } = pipelineOf(config(), { trials });
  for (let i = 0; i < FWKNOP_TRIALS.capacity; i++) send(junk, nthSource(i));
  assert.equal(send(junk, nthSource(60_000)), 'fwknop-rate-limited');
  const cfg = config();
  pipeline.policy = {
    formats: packetFormats(cfg, keyring(), new ReplayGuard(1000)),
    users: cfg.users,
    defaultDurationSec: 30,
    notBeforeMs: 0,
  };
  assert.equal(send(junk, nthSource(60_001)), 'fwknop-rate-limited', 'the reloaded policy draws on the same, empty budget');
  assert.equal(pipelineOf(config()).send(junk), 'fwknop-bad-mac', 'and the check can fail: a new budget is full');
});

test('under pressure the per-source budget covers fwknop packets: a junk source is held back, another source still gets in', () => {
  const { send } = pipelineOf(config(), { budget: new AuthBudget({ now: () => NOW, globalPerSec: 20 }) });
  const junk = bytes('A'.repeat(300));
  const results = Array.from({ length: 50 }, () => send(junk, '198.18.0.66'));
  assert.equal(results[0], 'fwknop-bad-mac', 'the first failures are tried and logged');
  assert.equal(results.at(-1), OVER_BUDGET, 'then the source is over its budget: no HMAC');
  assert.equal(send(fwknopPacket(), '198.18.0.2'), 'submitted', 'another source is not affected');
  assert.equal(send(bytes('A'.repeat(PACKET_SIZE)), '198.18.0.66'), 'bad-magic', 'cheap refusals need no budget');
});

test('failing sources cannot drain the trial budget, however they pace themselves: a reserve is kept for sources with no failure in a minute', () => {
  // 32 fwknop users: each packet costs 32 trials.
  const users = Array.from(
    { length: 31 },
    (_, i) =>
      `[users.f${i}]\nports = ["tcp/22"]\nformat = "fwknop"\nfwknop_key_base64 = "${b64(new Uint8Array(32).fill(i + 10))}"\nfwknop_hmac_key_base64 = "${b64(new Uint8Array(64).fill(i + 100))}"\n`,
  ).join('');
  let now = NOW;
  const { send } = pipelineOf(config(users), { now: () => now });
  const junk = bytes('A'.repeat(300));
  const sources = Array.from({ length: 240 }, (_, i) => `198.51.100.${i}`);
  for (const source of sources) send(junk, source); // each fails once: no longer clean
  const outcomes = new Set<string | undefined>();
  // Each source sends one packet every 0.5 s: by then it is forgiven for admission (clean again).
  for (let round = 0; round < 10; round++) {
    now += 500;
    for (const source of sources) outcomes.add(send(junk, source));
  }
  assert.ok(outcomes.has('fwknop-rate-limited'), 'failing sources are cut off at the reserve');
  assert.equal(send(fwknopPacket(), '198.18.0.2'), 'submitted', "a clean user's knock still gets its trials");
});

test('a fwknop packet refused by the daemon-wide trial budget is not a failure of its source', () => {
  const trials = new TrialBudget(() => NOW);
  while (trials.take(1, true)); // the daemon-wide budget is empty (another flood spent it)
  const { send, budget } = pipelineOf(config(), { trials });
  for (let i = 0; i < 20; i++) assert.equal(send(fwknopPacket(), '198.18.0.2'), 'fwknop-rate-limited');
  assert.equal(budget.size, 0, 'no HMAC was tried: nothing counts against 198.18.0.2');
  const fresh = pipelineOf(config());
  assert.equal(fresh.send(bytes('A'.repeat(300)), '198.18.0.66'), 'fwknop-bad-mac');
  assert.equal(fresh.budget.size, 1, 'and the check can fail: a tried, failed packet is counted');
});

test("pipeline: a fwknop knock becomes a grant under the user's policy; the log says which format", async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const captured = captureLog();
  const fw = new FakeFirewall();
  const cfg = config(
    `[users.erin]\nports = ["tcp/22"]\nrequire_ip = true\nformat = "fwknop"\nfwknop_key_base64 = "${b64(new Uint8Array(32).fill(5))}"\nfwknop_hmac_key_base64 = "${b64(new Uint8Array(64).fill(6))}"\n`,
  );
  const applier = new Applier({ firewall: fw, log: captured.log, now: () => NOW, save: () => {} });
  const pipeline = new Pipeline(
    {
      log: captured.log,
      rejects: new RejectLog(captured.log, () => NOW),
      budget: new AuthBudget({ now: () => NOW }),
      trials: new TrialBudget(() => NOW),
      applier,
      now: () => NOW,
      addresses: new AddressPolicy({ loopback: false, linkLocal: false, interfaces: () => ({}) }),
    },
    { formats: packetFormats(cfg, keyring(), new ReplayGuard(1000)), users: cfg.users, defaultDurationSec: 30, notBeforeMs: 0 },
  );
  const source = '198.18.0.2';
  // carol asks for 120 s for the source address; her max_duration is 60.
  pipeline.handle({ payload: fwknopPacket({ allowIp: null, clientTimeoutSec: 120 }), source, sourcePort: 40000 });
  await new Promise((r) => setImmediate(r));
  await applier.settled();
  assert.deepEqual(fw.calls, ['add 198.18.0.2 tcp/22']);
  const [knock] = captured.events('knock');
  assert.equal(knock?.format, 'fwknop');
  assert.equal(knock?.user, 'carol');
  assert.equal(knock?.duration, 60);
  assert.equal(knock?.capped, true);
  // The same bytes again: a replay, logged with the fwknop reason; nothing else opened.
  pipeline.handle({ payload: fwknopPacket({ allowIp: null, clientTimeoutSec: 120 }), source, sourcePort: 40000 });
  // udp/53 is allowed for carol, tcp/80 is not.
  pipeline.handle({ payload: fwknopPacket({ ports: [{ proto: 'tcp', port: 80 }] }, 2), source, sourcePort: 40000 });
  // erin must name the address (require_ip): 0.0.0.0 is refused.
  const erinKeys = { encKey: new Uint8Array(32).fill(5), hmacKey: new Uint8Array(64).fill(6) };
  pipeline.handle({
    payload: bytes(sealFwknopPacket(erinKeys, { ...FIELDS, allowIp: null }, new Uint8Array(8).fill(3))),
    source,
    sourcePort: 40000,
  });
  await applier.settled();
  assert.deepEqual(
    captured.events('reject').map((l) => [l.reason, l.user ?? null]),
    [
      ['fwknop-replay', 'carol'],
      ['port-not-allowed', 'carol'],
      ['ip-required', 'erin'],
    ],
  );
  assert.deepEqual(fw.calls, ['add 198.18.0.2 tcp/22']);
  await applier.closeAll('shutdown');
});

test('a datagram that is not intact (pcap: bad UDP checksum) is acted on by nothing, and checked only after the screen', () => {
  const { pipeline, outcomes } = pipelineOf(config());
  let checks = 0;
  const handle = (payload: Uint8Array, intact: boolean): void =>
    pipeline.handle({ payload, source: '198.18.0.2', sourcePort: 40000, intact: () => (checks++, intact) });
  handle(sealPacket(ALICE, OPEN_SSH, nonceOf(40)), false);
  assert.deepEqual(outcomes.seen, [], 'a corrupt knock is dropped, not submitted, not counted');
  assert.equal(checks, 1);
  handle(new Uint8Array(10), false);
  assert.equal(checks, 1, 'junk that fails the screen is never checksummed');
  assert.equal(outcomes.seen.length, 1, 'and is rejected by the screen as in udp mode');
  handle(sealPacket(ALICE, OPEN_SSH, nonceOf(41)), true);
  assert.equal(outcomes.seen.at(-1), 'submitted');
});
