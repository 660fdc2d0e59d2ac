// The grant book on its own: pure planning with a fake clock and no firewall. Events in, firewall
// changes and steps out; nothing changes until commit; a listing is planned like an event.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Change, Entry } from '../../../src/server/firewall/firewall.js';
import { GrantBook, type GrantRequest } from '../../../src/server/grants/grant-book.js';

const NOW = 1_800_000_000_000;
const ALICE: GrantRequest = { user: 'alice', ip: '198.18.0.2', family: 4, proto: 'tcp', port: 22 };
const BOB: GrantRequest = { ...ALICE, user: 'bob' };

/** "add|update|remove IP PORT USER@seconds-from-NOW" for each change. */
function show(changes: readonly Change[]): string[] {
  return changes.map(({ before, after }) => {
    const e = (after ?? before) as Entry;
    const op = before === undefined ? 'add' : after === undefined ? 'remove' : 'update';
    return `${op} ${e.ip} ${e.port} ${e.user}@${(e.deadlineMs - NOW) / 1000}`;
  });
}

function bookWith(...opens: [GrantRequest, number][]): GrantBook {
  const book = new GrantBook();
  book.commit(
    book.plan(
      opens.map(([grant, durationSec]) => ({ kind: 'open', grant, durationSec })),
      NOW,
    ),
  );
  return book;
}

test('planning changes nothing: the same events planned twice give the same plan', () => {
  const book = bookWith([ALICE, 30]);
  const events = [{ kind: 'open', grant: { ...ALICE, ip: '198.18.0.3' }, durationSec: 60 } as const];
  const first = book.plan(events, NOW);
  assert.deepEqual(book.plan(events, NOW), first);
  assert.equal(book.size, 1);
  assert.deepEqual(show(first.changes), ['add 198.18.0.3 22 alice@60']);
  book.commit(first);
  assert.equal(book.size, 2);
});

test('open, then extend: a longer deadline is an update, a shorter one changes nothing', () => {
  const book = bookWith([ALICE, 30]);
  const longer = book.plan([{ kind: 'open', grant: ALICE, durationSec: 60 }], NOW + 10_000);
  assert.deepEqual(show(longer.changes), ['update 198.18.0.2 22 alice@70']);
  assert.deepEqual(
    longer.steps.map((s) => s.kind === 'opened' && s.extended),
    [true],
  );
  const shorter = book.plan([{ kind: 'open', grant: ALICE, durationSec: 5 }], NOW + 10_000);
  assert.deepEqual(shorter.changes, [], 'the grant keeps its later deadline');
});

test('two users on one rule share one entry, owned by the later deadline', () => {
  const book = bookWith([ALICE, 60]);
  const bob = book.plan([{ kind: 'open', grant: BOB, durationSec: 30 }], NOW);
  assert.deepEqual(bob.changes, [], "bob's shorter grant needs no change");
  book.commit(bob);
  const aliceOut = book.plan([{ kind: 'close', grant: ALICE, why: 'knock' }], NOW);
  assert.deepEqual(show(aliceOut.changes), ['update 198.18.0.2 22 bob@30'], "the entry now ends at bob's deadline");
  assert.deepEqual(
    aliceOut.steps.map((s) => s.kind),
    ['closed'],
  );
});

test('expiry: a due grant closes (timeout), an extended one is kept', () => {
  const book = bookWith([ALICE, 30]);
  const early = book.plan([{ kind: 'expire', grant: ALICE }], NOW + 29_000);
  assert.deepEqual([early.changes, early.steps.map((s) => s.kind)], [[], ['kept']]);
  const due = book.plan([{ kind: 'expire', grant: ALICE }], NOW + 30_000);
  assert.deepEqual(show(due.changes), ['remove 198.18.0.2 22 alice@30']);
  assert.deepEqual(
    due.steps.map((s) => (s.kind === 'closed' ? s.why : s.kind)),
    ['timeout'],
  );
});

test('a batch: events see the ones before them; one change per rule', () => {
  const book = new GrantBook();
  const plan = book.plan(
    [
      { kind: 'open', grant: ALICE, durationSec: 30 },
      { kind: 'open', grant: ALICE, durationSec: 60 },
      { kind: 'close', grant: { ...ALICE, port: 80 }, why: 'knock' },
      { kind: 'open', grant: BOB, durationSec: 90 },
    ],
    NOW,
  );
  assert.deepEqual(show(plan.changes), ['add 198.18.0.2 22 bob@90']);
  assert.deepEqual(
    plan.steps.map((s) => s.kind),
    ['opened', 'opened', 'none', 'opened'],
  );
});

test('after shutdown, opens are refused', () => {
  const plan = new GrantBook().plan([{ kind: 'open', grant: ALICE, durationSec: 30 }], NOW, true);
  assert.deepEqual([plan.changes, plan.steps], [[], [{ kind: 'none', refused: true }]]);
});

test('revert puts back the rules that did not go in, and only those', () => {
  const book = bookWith([ALICE, 30]);
  const plan = book.plan(
    [
      { kind: 'close', grant: ALICE, why: 'knock' },
      { kind: 'open', grant: { ...ALICE, ip: '198.18.0.3' }, durationSec: 30 },
    ],
    NOW,
  );
  book.commit(plan);
  book.revert(plan, new Set(['198.18.0.2 tcp/22']));
  assert.deepEqual(
    book
      .all()
      .map((g) => g.ip)
      .sort(),
    ['198.18.0.2', '198.18.0.3'],
  );
});

test('write-ahead records: a grant being closed and a grant being opened are both on disk while the firewall works', () => {
  const book = bookWith([ALICE, 30]);
  const plan = book.plan(
    [
      { kind: 'close', grant: ALICE, why: 'knock' },
      { kind: 'open', grant: { ...ALICE, port: 80 }, durationSec: 30 },
    ],
    NOW,
  );
  const ports = (): number[] =>
    book
      .recordsFor(plan)
      .map((g) => g.port)
      .sort((a, b) => a - b);
  assert.deepEqual(ports(), [22, 80]);
  book.commit(plan);
  assert.deepEqual(ports(), [22, 80], 'the same whether planned or committed');
  assert.deepEqual(
    book.recordsFor(undefined).map((g) => g.port),
    [80],
  );
});

test('a listing: stale entries out, missing ones back (not those about to expire), changed deadlines updated', () => {
  const book = bookWith([ALICE, 120], [{ ...ALICE, ip: '198.18.0.3' }, 60], [{ ...ALICE, ip: '198.18.0.4' }, 1]);
  const listing: Entry[] = [
    { ...ALICE, deadlineMs: NOW + 30_000 },
    { ...ALICE, ip: '198.18.0.9', user: 'mallory', deadlineMs: NOW + 60_000 },
  ];
  const plan = book.planListing(listing, NOW, false, 2_000);
  assert.deepEqual(show(plan.changes).sort(), [
    'add 198.18.0.3 22 alice@60',
    'remove 198.18.0.9 22 mallory@60',
    'update 198.18.0.2 22 alice@120',
  ]);
  assert.deepEqual(
    plan.stale.map((e) => e.user),
    ['mallory'],
  );
  assert.deepEqual(plan.adopted, []);
});

test('a listing at start adopts live entries nobody holds (a lost state file) and removes expired ones', () => {
  const book = new GrantBook();
  const listing: Entry[] = [
    { ...ALICE, deadlineMs: NOW - 5_000 },
    { ...BOB, ip: '198.18.0.3', deadlineMs: NOW + 8_000 },
  ];
  const plan = book.planListing(listing, NOW, true, 2_000);
  assert.deepEqual(
    plan.adopted.map((g) => `${g.user} ${g.ip}`),
    ['bob 198.18.0.3'],
  );
  assert.deepEqual(show(plan.changes), ['remove 198.18.0.2 22 alice@-5']);
  assert.equal(book.size, 0, 'planned, not taken');
});
