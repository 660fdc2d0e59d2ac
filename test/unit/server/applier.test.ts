// The applier: a grant's lifecycle with a fake firewall and a fake clock: open, extend, expire,
// close, failures and repair, batching, shared rules, restore after restart (with and without the
// state file), periodic sweep, write-ahead saves, knocks refused when the state cannot be saved.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Entry } from '../../../src/server/firewall/firewall.js';
import { Applier, type CloseReason, type GrantRequest } from '../../../src/server/grants/applier.js';
import { captureLog } from '../../support/capture-log.js';
import { FakeFirewall } from '../../support/fake-firewall.js';

const ALICE_SSH: GrantRequest = { user: 'alice', ip: '198.18.0.2', family: 4, proto: 'tcp', port: 22 };

function setup(t: TestContext, opts: { sweepEveryMs?: number } = {}) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 1_800_000_000_000;
  const fw = new FakeFirewall();
  const captured = captureLog();
  /** Grants on disk at each persist, as "ip port" lists. */
  const persisted: string[][] = [];
  const applier = new Applier({
    firewall: fw,
    log: captured.log,
    now: () => clock,
    ...opts,
    save: (grants) => void persisted.push(grants.map((r) => `${r.ip} ${r.port}`)),
  });
  const grants = driver(applier);
  const advance = async (ms: number): Promise<void> => {
    clock += ms;
    t.mock.timers.tick(ms);
    await new Promise((r) => setImmediate(r));
    await grants.settled();
  };
  return { fw, applier, grants, captured, advance, persisted, now: () => clock };
}

/** Knocks and closes as the pipeline and the timers submit them; resolves whether the event took effect. */
function driver(applier: Applier) {
  return {
    open: async (grant: GrantRequest, durationSec: number): Promise<boolean> =>
      (await applier.submit([{ kind: 'open', grant, durationSec }], { event: 'knock', user: grant.user, ip: grant.ip }))[0] === true,
    close: async (grant: GrantRequest, why: CloseReason): Promise<void> =>
      void (await applier.submit(
        [{ kind: 'close', grant, why }],
        why === 'knock' ? { event: 'knock', user: grant.user, ip: grant.ip } : undefined,
      )),
    records: () => applier.grants(),
    get size() {
      return applier.size;
    },
    settled: () => applier.settled(),
    closeAll: (why: CloseReason) => applier.closeAll(why),
    restore: (records: Parameters<Applier['restore']>[0]) => applier.restore(records),
    revoke: (keep: Parameters<Applier['revoke']>[0]) => applier.revoke(keep),
    setProtected: (ports: Parameters<Applier['setProtected']>[0]) => applier.setProtected(ports),
  };
}

function entry(ip: string, deadlineMs: number, user = 'alice'): Entry {
  return { ...ALICE_SSH, ip, user, deadlineMs };
}

test('open inserts one entry; a second open extends it (new deadline in the firewall) instead of adding another', async (t) => {
  const { fw, grants, captured, now } = setup(t);
  assert.equal(await grants.open(ALICE_SSH, 30), true);
  const start = now();
  assert.equal(await grants.open(ALICE_SSH, 60), true);
  assert.deepEqual(fw.calls, ['add 198.18.0.2 tcp/22', 'update 198.18.0.2 tcp/22']);
  assert.deepEqual(
    grants.records().map((r) => r.deadlineMs),
    [start + 60_000],
  );
  assert.equal(fw.entries.get('198.18.0.2 tcp/22')?.deadlineMs, start + 60_000, 'the kernel deadline moved too');
  assert.deepEqual(
    captured.events('open').map((e) => e.extended),
    [false, true],
  );
});

test('a shorter second open does not shorten the grant, and changes nothing in the firewall', async (t) => {
  const { fw, grants, now } = setup(t);
  await grants.open(ALICE_SSH, 60);
  await grants.open(ALICE_SSH, 5);
  assert.equal(grants.records()[0]?.deadlineMs, now() + 60_000);
  assert.deepEqual(fw.calls, ['add 198.18.0.2 tcp/22']);
});

test('the grant closes by itself at its deadline, not before', async (t) => {
  const { fw, grants, captured, advance } = setup(t);
  await grants.open(ALICE_SSH, 30);
  await advance(29_999);
  assert.equal(fw.rules.size, 1);
  await advance(1);
  assert.equal(fw.rules.size, 0);
  assert.equal(grants.size, 0);
  assert.deepEqual(
    captured.events('close').map((e) => e.why),
    ['timeout'],
  );
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

test('close knock removes the entry; closing what is not open does nothing', async (t) => {
  const { fw, grants, captured } = setup(t);
  await grants.close(ALICE_SSH, 'knock');
  assert.deepEqual(fw.calls, []);
  await grants.open(ALICE_SSH, 30);
  await grants.close(ALICE_SSH, 'knock');
  assert.deepEqual(fw.calls, ['add 198.18.0.2 tcp/22', 'remove 198.18.0.2 tcp/22']);
  assert.equal(fw.rules.size, 0);
  assert.deepEqual(
    captured.events('close').map((e) => e.why),
    ['knock'],
  );
});

test('a failing open is logged with stderr and not counted open (after one repair attempt)', async (t) => {
  const { fw, grants, captured } = setup(t);
  fw.failOpen = true;
  assert.equal(await grants.open(ALICE_SSH, 30), false);
  assert.equal(grants.size, 0);
  const errors = captured.events('firewall-error');
  assert.equal(errors[0]?.op, 'open');
  assert.equal(errors[0]?.stderr, 'fake add failure');
  assert.equal(fw.setups, 1, 'the backend was set up again before the retry');
  assert.equal(errors.length, 2, 'the retry failed too, and was logged');
  assert.equal(captured.events('open').length, 0);
});

test('a failing extension keeps the old deadline and is not reported extended', async (t) => {
  const { fw, grants, captured, now } = setup(t);
  await grants.open(ALICE_SSH, 30);
  const first = now() + 30_000;
  fw.broken = true;
  fw.setup = async () => {
    fw.setups++; // the repair does not help: the tool stays broken
  };
  assert.equal(await grants.open(ALICE_SSH, 300), false);
  assert.deepEqual(
    grants.records().map((r) => r.deadlineMs),
    [first],
  );
  assert.deepEqual(
    captured.events('open').map((e) => e.extended),
    [false],
  );
});

test('a table deleted underneath: the next open recreates it and puts back every live grant', async (t) => {
  const { fw, grants, captured } = setup(t);
  const bob = { ...ALICE_SSH, user: 'bob', ip: '198.18.0.9' };
  await grants.open(ALICE_SSH, 30);
  await grants.open(bob, 30);
  fw.entries.clear();
  fw.broken = true;
  assert.equal(await grants.open({ ...ALICE_SSH, ip: '198.18.0.3' }, 30), true);
  assert.deepEqual([...fw.rules].sort(), ['198.18.0.2 tcp/22', '198.18.0.3 tcp/22', '198.18.0.9 tcp/22']);
  assert.equal(fw.setups, 1);
  assert.equal(captured.events('firewall-error').length, 1);
  const [repair] = captured.events('firewall-repair');
  assert.equal(repair?.count, 2, 'the two grants the table took with it');
});

test('a repair that cannot put back another grant leaves it to the sweep (never dropped silently)', async (t) => {
  const { fw, grants, captured } = setup(t);
  await grants.open(ALICE_SSH, 30);
  fw.entries.clear();
  fw.broken = true;
  fw.setup = async () => {
    fw.setups++; // the table cannot be recreated
  };
  fw.listable = true;
  assert.equal(await grants.open({ ...ALICE_SSH, ip: '198.18.0.3' }, 30), false);
  assert.deepEqual(
    grants.records().map((r) => r.ip),
    ['198.18.0.2'],
  );
  assert.deepEqual(captured.events('close'), []);
});

test('a failing close keeps the grant while the entry is still there, and retries', async (t) => {
  const { fw, grants, captured, advance } = setup(t);
  await grants.open(ALICE_SSH, 30);
  fw.failClose = true;
  await grants.close(ALICE_SSH, 'knock');
  assert.equal(grants.size, 1, 'entry still in the firewall, so the grant stays');
  assert.equal(captured.events('close').length, 0);
  fw.failClose = false;
  await advance(5_000);
  assert.equal(grants.size, 0);
  assert.equal(fw.rules.size, 0);
  assert.deepEqual(
    captured.events('close').map((e) => e.why),
    ['knock'],
  );
});

test('a failing close of an entry that is already gone counts as closed', async (t) => {
  const { fw, grants, captured } = setup(t);
  await grants.open(ALICE_SSH, 30);
  fw.entries.clear(); // someone flushed the chain
  fw.failClose = true;
  await grants.close(ALICE_SSH, 'knock');
  assert.equal(grants.size, 0);
  assert.equal(captured.events('close').length, 1);
});

test('concurrent knocks never overlap on the firewall, never duplicate an entry, and go in as few batches', async (t) => {
  const { fw, grants } = setup(t);
  const others = Array.from({ length: 20 }, (_, i) => ({ ...ALICE_SSH, ip: `198.18.1.${i + 1}` }));
  const results = await Promise.all([
    ...Array.from({ length: 20 }, () => grants.open(ALICE_SSH, 30)),
    ...others.map((g) => grants.open(g, 30)),
  ]);
  assert.ok(results.every((r) => r));
  assert.equal(fw.maxInFlight, 1);
  assert.equal(fw.calls.filter((c) => c === 'add 198.18.0.2 tcp/22').length, 1);
  assert.equal(fw.rules.size, 21);
  assert.equal(fw.batches.length, 1, `all 40 knocks arrived together: one batch (${fw.batches.join(', ')})`);
  await grants.closeAll('shutdown');
  assert.equal(fw.rules.size, 0);
  assert.equal(fw.batches.length, 2, 'closeAll is one batch');
});

test('two users on the same address and port share one entry, held until the later deadline', async (t) => {
  const { fw, grants, captured, now, advance } = setup(t);
  const bob = { ...ALICE_SSH, user: 'bob' };
  await grants.open(ALICE_SSH, 60);
  await grants.open(bob, 30);
  assert.equal(grants.size, 2);
  assert.deepEqual(fw.calls, ['add 198.18.0.2 tcp/22'], "bob's shorter grant needs no change");
  await grants.close(ALICE_SSH, 'knock');
  assert.equal(fw.entries.get('198.18.0.2 tcp/22')?.deadlineMs, now() + 30_000, "alice out: the entry now ends at bob's deadline");
  assert.equal(fw.entries.get('198.18.0.2 tcp/22')?.user, 'bob');
  await advance(30_000);
  assert.equal(fw.rules.size, 0);
  assert.deepEqual(
    captured.events('close').map((e) => `${e.user} ${e.why}`),
    ['alice knock', 'bob timeout'],
  );
});

test('closeAll closes everything and refuses later opens', async (t) => {
  const { fw, grants, captured } = setup(t);
  await grants.open(ALICE_SSH, 30);
  await grants.open({ ...ALICE_SSH, proto: 'udp', port: 53 }, 30);
  await grants.closeAll('shutdown');
  assert.equal(fw.rules.size, 0);
  assert.deepEqual(
    captured.events('close').map((e) => e.why),
    ['shutdown', 'shutdown'],
  );
  assert.equal(await grants.open(ALICE_SSH, 30), false);
  assert.equal(fw.rules.size, 0);
});

test('restore closes grants that expired while down and re-arms live ones, re-adding missing entries', async (t) => {
  const { fw, grants, captured, advance, now } = setup(t);
  const expired = { ...ALICE_SSH, deadlineMs: now() - 1 };
  const liveMissing = { ...ALICE_SSH, ip: '198.18.0.3', deadlineMs: now() + 10_000 };
  const livePresent = { ...ALICE_SSH, ip: '198.18.0.4', deadlineMs: now() + 20_000 };
  fw.put(entry('198.18.0.2', now() - 1));
  fw.put(entry('198.18.0.4', now() + 20_000));
  await grants.restore([expired, liveMissing, livePresent]);
  assert.deepEqual(
    captured.events('close').map((e) => [e.ip, e.why]),
    [['198.18.0.2', 'expired-while-down']],
  );
  assert.deepEqual([...fw.rules].sort(), ['198.18.0.3 tcp/22', '198.18.0.4 tcp/22']);
  assert.deepEqual(fw.calls.sort(), ['add 198.18.0.3 tcp/22', 'remove 198.18.0.2 tcp/22']);
  assert.equal(fw.batches.length, 1, 'one batch');
  await advance(10_000);
  assert.deepEqual([...fw.rules], ['198.18.0.4 tcp/22']);
  await advance(10_000);
  assert.equal(fw.rules.size, 0);
});

test('restore with the state file lost: live entries found in the firewall are adopted, expired ones removed', async (t) => {
  const { fw, grants, captured, advance, now } = setup(t);
  fw.put(entry('198.18.0.2', now() - 5_000, 'alice'));
  fw.put(entry('198.18.0.3', now() + 8_000, 'bob'));
  await grants.restore([]);
  assert.deepEqual(
    captured.events('close').map((e) => `${e.user} ${e.ip} ${e.why}`),
    ['alice 198.18.0.2 expired-while-down'],
  );
  assert.deepEqual(
    grants.records().map((r) => `${r.user} ${r.ip}`),
    ['bob 198.18.0.3'],
  );
  assert.equal(captured.events('open')[0]?.restored, true);
  await advance(8_000);
  assert.equal(fw.rules.size, 0, 'the adopted grant closed at the deadline its comment carried');
  assert.deepEqual(
    captured.events('close').map((e) => e.why),
    ['expired-while-down', 'timeout'],
  );
});

test('restore takes only what the config allows: a refused record is logged and its entry taken out; a planted entry is not adopted', async (t) => {
  const { fw, applier, captured, now } = setup(t);
  const bob = { ...ALICE_SSH, user: 'bob', ip: '198.18.0.3', deadlineMs: now() + 10_000 };
  fw.put(entry('198.18.0.3', now() + 10_000, 'bob'));
  fw.put(entry('198.18.0.9', now() + 10_000, 'mallory'));
  await applier.restore([{ ...ALICE_SSH, deadlineMs: now() + 10_000 }, bob], (g) => g.user === 'alice');
  assert.deepEqual(
    applier.grants().map((g) => g.user),
    ['alice'],
  );
  assert.deepEqual([...fw.rules], ['198.18.0.2 tcp/22'], "bob's and mallory's entries are out, alice's is back");
  assert.deepEqual(
    captured.events('grant-refused').map((e) => `${e.user} ${e.from}`),
    ['bob state file', 'mallory firewall'],
    'each refusal logged once',
  );
});

test('restore without a view of the firewall (command backend): expired grants are closed, live ones trusted', async (t) => {
  const { fw, grants, captured, now } = setup(t);
  fw.listable = false;
  await grants.restore([
    { ...ALICE_SSH, deadlineMs: now() - 1 },
    { ...ALICE_SSH, ip: '198.18.0.3', deadlineMs: now() + 10_000 },
  ]);
  assert.deepEqual(fw.calls, ['remove 198.18.0.2 tcp/22']);
  assert.deepEqual(
    captured.events('close').map((e) => e.why),
    ['expired-while-down'],
  );
  assert.equal(grants.size, 1);
});

test('the periodic sweep removes stale entries, puts back missing ones, and drops what cannot be put back', async (t) => {
  const { fw, grants, captured, advance, now } = setup(t, { sweepEveryMs: 30_000 });
  await grants.restore([]);
  await grants.open(ALICE_SSH, 120);
  await grants.open({ ...ALICE_SSH, ip: '198.18.0.3' }, 120);
  fw.put(entry('198.18.0.9', now() + 60_000, 'mallory')); // not knockspa's grant
  fw.entries.delete('198.18.0.2 tcp/22'); // flushed by someone
  await advance(30_000);
  assert.deepEqual([...fw.rules].sort(), ['198.18.0.2 tcp/22', '198.18.0.3 tcp/22']);
  assert.deepEqual(
    captured.events('close').map((e) => `${e.user} ${e.why}`),
    ['mallory stale'],
  );
  assert.equal(captured.events('firewall-repair')[0]?.count, 1);

  fw.entries.delete('198.18.0.3 tcp/22');
  fw.failOpen = true;
  await advance(30_000);
  assert.deepEqual(
    grants.records().map((r) => r.ip),
    ['198.18.0.2'],
    'not in the kernel and cannot be put back: not open',
  );
  assert.deepEqual(
    captured
      .events('close')
      .map((e) => `${e.ip} ${e.why}`)
      .slice(1),
    ['198.18.0.3 lost'],
  );
});

/** How many saves had been made each time the firewall was called. */
function savesAtEachApply(fw: FakeFirewall, persisted: readonly unknown[]): number[] {
  const atApply: number[] = [];
  const original = fw.apply.bind(fw);
  fw.apply = async (changes) => {
    atApply.push(persisted.length);
    return original(changes);
  };
  return atApply;
}

test('revoke closes, in one batch, the grants the predicate refuses (why: revoked), and keeps the others', async (t) => {
  const { fw, grants, captured } = setup(t);
  for (const [user, ip] of [
    ['alice', '198.18.0.2'],
    ['bob', '198.18.0.3'],
    ['bob', '198.18.0.4'],
  ] as const)
    await grants.open({ ...ALICE_SSH, user, ip }, 60);
  const calls = fw.calls.length;
  const batches = fw.batches.length;
  await grants.revoke((g) => g.user !== 'bob');
  assert.deepEqual(fw.calls.slice(calls), ['remove 198.18.0.3 tcp/22', 'remove 198.18.0.4 tcp/22']);
  assert.deepEqual(fw.batches.slice(batches), [2], 'one firewall call for both');
  assert.deepEqual(
    grants.records().map((r) => r.user),
    ['alice'],
  );
  assert.deepEqual(
    captured.events('close').map((e) => `${e.user} ${e.ip} ${e.why}`),
    ['bob 198.18.0.3 revoked', 'bob 198.18.0.4 revoked'],
  );
  await grants.revoke(() => true);
  assert.equal(fw.calls.length, calls + 2, 'nothing refused, nothing done');
});

test('the firewall waits for the save to finish, not just to start', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const fw = new FakeFirewall();
  let finishSave: () => void = () => {};
  let saves = 0;
  const grants = driver(
    new Applier({
      firewall: fw,
      log: captureLog().log,
      now: () => 1_800_000_000_000,
      save: () =>
        new Promise<void>((r) => {
          saves++;
          finishSave = r;
        }),
    }),
  );
  const opened = grants.open(ALICE_SSH, 30);
  for (let i = 0; i < 5 && saves === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(saves, 1, 'the save has started');
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(fw.calls, [], 'nothing goes in while the save is pending');
  finishSave();
  assert.equal(await opened, true);
  assert.deepEqual(fw.calls, ['add 198.18.0.2 tcp/22']);
});

test('a grant is persisted before its entry goes in (write-ahead), and forgotten after it is out', async (t) => {
  const { fw, grants, persisted } = setup(t);
  const atApply = savesAtEachApply(fw, persisted);
  await grants.open(ALICE_SSH, 30);
  assert.deepEqual(persisted[0], ['198.18.0.2 22'], 'on disk before the firewall ran');
  assert.deepEqual(atApply, [1]);
  await grants.close(ALICE_SSH, 'knock');
  assert.deepEqual(persisted.at(-1), []);
});

test('knocks persist once per batch before taking effect, also a close knock that changes nothing (its replay entry)', async (t) => {
  const { fw, grants, persisted } = setup(t);
  const atApply = savesAtEachApply(fw, persisted);
  await grants.close(ALICE_SSH, 'knock');
  assert.equal(persisted.length, 1, 'a close knock for nothing open is still saved');
  assert.deepEqual(atApply, [], 'and runs no firewall command');
  const opens = ['198.18.0.2', '198.18.0.3', '198.18.0.4'].map((ip) => grants.open({ ...ALICE_SSH, ip }, 30));
  assert.deepEqual(await Promise.all(opens), [true, true, true]);
  assert.deepEqual(atApply, [2], 'three knocks at once: one save, then one firewall call');
  const saves = persisted.length;
  await grants.close({ ...ALICE_SSH, ip: '198.18.0.9' }, 'timeout');
  assert.equal(persisted.length, saves, 'a close that is not a knock and changes nothing saves nothing');
});

test('a grant being closed stays on disk until its entry is out', async (t) => {
  const { fw, grants, persisted } = setup(t);
  await grants.open(ALICE_SSH, 30);
  fw.failClose = true;
  await grants.close(ALICE_SSH, 'knock');
  assert.deepEqual(persisted.at(-1), ['198.18.0.2 22']);
});

test('a failed open is dropped from the persisted grants again', async (t) => {
  const { fw, grants, persisted } = setup(t);
  fw.failOpen = true;
  await grants.open(ALICE_SSH, 30);
  assert.deepEqual(persisted.at(-1), []);
});

test('new protected ports set the backend up again', async (t) => {
  const { fw, grants } = setup(t);
  await grants.setProtected([{ proto: 'tcp', port: 2222 }]);
  assert.equal(fw.setups, 1);
});

test('a knock whose state cannot be saved is refused (fail closed); closes still go through', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const fw = new FakeFirewall();
  const captured = captureLog();
  let full = false;
  const grants = driver(
    new Applier({
      firewall: fw,
      log: captured.log,
      now: () => 1_800_000_000_000,
      save: () => {
        if (full) throw new Error('ENOSPC: no space left on device');
      },
    }),
  );
  assert.equal(await grants.open(ALICE_SSH, 30), true);
  full = true;
  assert.equal(await grants.open({ ...ALICE_SSH, ip: '198.18.0.3' }, 30), false, 'not saved: not applied');
  assert.deepEqual([...fw.rules], ['198.18.0.2 tcp/22']);
  const [refused] = captured.events('state-error');
  assert.equal(refused?.ip, '198.18.0.3', 'the refused knock is named');
  assert.match(String(refused?.error), /ENOSPC/);
  assert.equal(captured.events('knock').length, 1, 'only the saved knock is logged as accepted');
  await grants.close(ALICE_SSH, 'timeout');
  assert.deepEqual([...fw.rules], [], 'a close needs no save to go through');
});

test("a group's share: a shared knock's events once its batch is with the firewall, before the firewall answers; never an unshared job or a knock whose state was not saved", async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const fw = new FakeFirewall();
  let full = false;
  const shared: { kinds: string[]; taking: readonly boolean[]; rulesThen: string[] }[] = [];
  const applier = new Applier({
    firewall: fw,
    log: captureLog().log,
    now: () => 1_800_000_000_000,
    save: () => {
      if (full) throw new Error('ENOSPC: no space left on device');
    },
    share: (events, taking) => shared.push({ kinds: events.map((e) => e.kind), taking, rulesThen: [...fw.rules] }),
  });
  const knock = { event: 'knock', user: 'alice' };
  assert.deepEqual(await applier.submit([{ kind: 'open', grant: ALICE_SSH, durationSec: 30 }], knock, true), [true]);
  assert.deepEqual(shared, [{ kinds: ['open'], taking: [true], rulesThen: [] }], 'shared before the firewall answered');
  await applier.submit([{ kind: 'open', grant: { ...ALICE_SSH, ip: '198.18.0.3' }, durationSec: 30 }], knock);
  assert.equal(shared.length, 1, 'an unshared job (a gateway applying what another shared) is not shared again');
  full = true;
  assert.deepEqual(await applier.submit([{ kind: 'open', grant: { ...ALICE_SSH, ip: '198.18.0.4' }, durationSec: 30 }], knock, true), [
    false,
  ]);
  assert.equal(shared.length, 1, 'a knock refused for its state is never shared');
});
