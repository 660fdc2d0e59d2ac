// Grant lifecycle: open, extend, expire, close, failures, concurrency, restore after restart.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Grants, type GrantRequest } from '../../../src/server/grants.js';
import { captureLog } from '../../support/capture-log.js';
import { FakeFirewall } from '../../support/fake-firewall.js';

const ALICE_SSH: GrantRequest = { user: 'alice', ip: '198.18.0.2', family: 4, proto: 'tcp', port: 22 };

function setup(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 1_800_000_000_000;
  const fw = new FakeFirewall();
  const captured = captureLog();
  /** Grants on disk at each persist, as "ip port" lists. */
  const persisted: string[][] = [];
  const grants: Grants = new Grants({
    firewall: fw, log: captured.log, now: () => clock,
    persist: async () => {
      persisted.push(grants.records().map((r) => `${r.ip} ${r.port}`));
    },
  });
  const advance = async (ms: number): Promise<void> => {
    clock += ms;
    t.mock.timers.tick(ms);
    await new Promise((r) => setImmediate(r));
    await grants.settled();
  };
  return { fw, grants, captured, advance, persisted, now: () => clock };
}

test('open inserts one rule; a second open extends it instead of adding another', async (t) => {
  const { fw, grants, captured, now } = setup(t);
  assert.equal(await grants.open(ALICE_SSH, 30), true);
  const start = now();
  assert.equal(await grants.open(ALICE_SSH, 60), true);
  assert.deepEqual(fw.calls, ['open 198.18.0.2 tcp/22']);
  assert.deepEqual(grants.records().map((r) => r.deadlineMs), [start + 60_000]);
  assert.deepEqual(captured.events('open').map((e) => e.extended), [false, true]);
});

test('a shorter second open does not shorten the grant', async (t) => {
  const { grants, now } = setup(t);
  await grants.open(ALICE_SSH, 60);
  await grants.open(ALICE_SSH, 5);
  assert.equal(grants.records()[0]?.deadlineMs, now() + 60_000);
});

test('the grant closes by itself at its deadline, not before', async (t) => {
  const { fw, grants, captured, advance } = setup(t);
  await grants.open(ALICE_SSH, 30);
  await advance(29_999);
  assert.equal(fw.rules.size, 1);
  await advance(1);
  assert.equal(fw.rules.size, 0);
  assert.equal(grants.size, 0);
  assert.deepEqual(captured.events('close').map((e) => e.why), ['timeout']);
});

test('an extension moves the deadline the timer closes at', async (t) => {
  const { fw, grants, advance } = setup(t);
  await grants.open(ALICE_SSH, 10);
  await advance(5_000);
  await grants.open(ALICE_SSH, 10);
  await advance(6_000);
  assert.equal(fw.rules.size, 1, 'still open 11 s after the first knock');
  await advance(4_000);
  assert.equal(fw.rules.size, 0);
});

test('close knock removes the rule; closing what is not open does nothing', async (t) => {
  const { fw, grants, captured } = setup(t);
  await grants.close(ALICE_SSH, 'knock');
  assert.deepEqual(fw.calls, []);
  await grants.open(ALICE_SSH, 30);
  await grants.close(ALICE_SSH, 'knock');
  assert.deepEqual(fw.calls, ['open 198.18.0.2 tcp/22', 'close 198.18.0.2 tcp/22']);
  assert.equal(fw.rules.size, 0);
  assert.deepEqual(captured.events('close').map((e) => e.why), ['knock']);
});

test('a failing open is logged with stderr and not counted open', async (t) => {
  const { fw, grants, captured } = setup(t);
  fw.failOpen = true;
  assert.equal(await grants.open(ALICE_SSH, 30), false);
  assert.equal(grants.size, 0);
  const [error] = captured.events('firewall-error');
  assert.equal(error?.op, 'open');
  assert.equal(error?.stderr, 'fake open failure');
  assert.equal(captured.events('open').length, 0);
});

test('a failing close keeps the grant while the rule is still there, and retries', async (t) => {
  const { fw, grants, captured, advance } = setup(t);
  await grants.open(ALICE_SSH, 30);
  fw.failClose = true;
  await grants.close(ALICE_SSH, 'knock');
  assert.equal(grants.size, 1, 'rule still in the firewall, so the grant stays');
  assert.equal(captured.events('close').length, 0);
  fw.failClose = false;
  await advance(5_000);
  assert.equal(grants.size, 0);
  assert.equal(fw.rules.size, 0);
});

test('a failing close of a rule that is already gone counts as closed', async (t) => {
  const { fw, grants, captured } = setup(t);
  await grants.open(ALICE_SSH, 30);
  fw.rules.clear(); // someone flushed the chain
  fw.failClose = true;
  await grants.close(ALICE_SSH, 'knock');
  assert.equal(grants.size, 0);
  assert.equal(captured.events('close').length, 1);
});

test('concurrent knocks never overlap on the firewall and never duplicate a rule', async (t) => {
  const { fw, grants } = setup(t);
  const others = Array.from({ length: 20 }, (_, i) => ({ ...ALICE_SSH, ip: `198.18.1.${i + 1}` }));
  await Promise.all([...Array.from({ length: 20 }, () => grants.open(ALICE_SSH, 30)), ...others.map((g) => grants.open(g, 30))]);
  assert.equal(fw.maxInFlight, 1);
  assert.equal(fw.calls.filter((c) => c === 'open 198.18.0.2 tcp/22').length, 1);
  assert.equal(fw.rules.size, 21);
  await grants.closeAll('shutdown');
  assert.equal(fw.rules.size, 0);
});

test('closeAll closes everything and refuses later opens', async (t) => {
  const { fw, grants, captured } = setup(t);
  await grants.open(ALICE_SSH, 30);
  await grants.open({ ...ALICE_SSH, proto: 'udp', port: 53 }, 30);
  await grants.closeAll('shutdown');
  assert.equal(fw.rules.size, 0);
  assert.deepEqual(captured.events('close').map((e) => e.why), ['shutdown', 'shutdown']);
  assert.equal(await grants.open(ALICE_SSH, 30), false);
  assert.equal(fw.rules.size, 0);
});

test('restore closes grants that expired while down and re-arms live ones, re-adding missing rules', async (t) => {
  const { fw, grants, captured, advance, now } = setup(t);
  const expired = { ...ALICE_SSH, deadlineMs: now() - 1 };
  const liveMissing = { ...ALICE_SSH, ip: '198.18.0.3', deadlineMs: now() + 10_000 };
  const livePresent = { ...ALICE_SSH, ip: '198.18.0.4', deadlineMs: now() + 20_000 };
  fw.rules.add('198.18.0.2 tcp/22');
  fw.rules.add('198.18.0.4 tcp/22');
  await grants.restore([expired, liveMissing, livePresent]);
  assert.deepEqual(captured.events('close').map((e) => [e.ip, e.why]), [['198.18.0.2', 'expired-while-down']]);
  assert.deepEqual([...fw.rules].sort(), ['198.18.0.3 tcp/22', '198.18.0.4 tcp/22']);
  assert.deepEqual(fw.calls, ['close 198.18.0.2 tcp/22', 'open 198.18.0.3 tcp/22']);
  await advance(10_000);
  assert.deepEqual([...fw.rules], ['198.18.0.4 tcp/22']);
  await advance(10_000);
  assert.equal(fw.rules.size, 0);
});

test('a grant is persisted before its rule goes in (write-ahead), and forgotten after it is out', async (t) => {
  const { fw, grants, persisted } = setup(t);
  const rulesAtPersist: number[] = [];
  const original = fw.open.bind(fw);
  fw.open = async (rule) => {
    rulesAtPersist.push(persisted.length);
    return original(rule);
  };
  await grants.open(ALICE_SSH, 30);
  assert.deepEqual(persisted[0], ['198.18.0.2 22'], 'on disk before iptables ran');
  assert.deepEqual(rulesAtPersist, [1]);
  await grants.close(ALICE_SSH, 'knock');
  assert.deepEqual(persisted.at(-1), []);
});

test('a failed open is dropped from the persisted grants again', async (t) => {
  const { fw, grants, persisted } = setup(t);
  fw.failOpen = true;
  await grants.open(ALICE_SSH, 30);
  assert.deepEqual(persisted.at(-1), []);
});
