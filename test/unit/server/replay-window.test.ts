// The replay cache's window with a fake clock: a cache lost at start, max_skew raised on reload or
// across a restart (entries kept longer, forgotten packets refused), lowered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplayGuard } from '../../../src/protocol/replay.js';
import { ReplayWindow } from '../../../src/server/state/replay-window.js';

const T = 1_800_000_000_000;

test('a cache lost at start vouches for nothing stamped before start + max_skew (a captured future-stamped knock too)', () => {
  const w = new ReplayWindow(new ReplayGuard(100), 30_000);
  w.lost(T);
  assert.equal(w.notBeforeMs, T + 30_000);
});

test('max_skew raised: live entries are kept longer by as much; packets the cache may have forgotten are refused', () => {
  const replay = new ReplayGuard(100);
  // Accepted 20 s ago, stamped 25 s ahead then: kept until its timestamp + 30 s.
  const ts = T - 20_000 + 25_000;
  assert.equal(replay.claim('seen', ts + 30_000, T - 20_000), 'ok');
  const w = new ReplayWindow(replay, 30_000);
  w.widenTo(300_000, T);
  assert.equal(w.notBeforeMs, T - 30_000, 'anything stamped before the old window may have been forgotten');
  assert.equal(w.savedSkewMs, 300_000);
  assert.equal(replay.claim('seen', ts + 300_000, ts + 30_001), 'replay', 'still remembered past the old expiry');
  assert.equal(replay.claim('seen', ts + 300_000, ts + 300_000), 'replay', 'for as long as the new window accepts it');
  assert.equal(replay.claim('seen', ts + 600_000, ts + 300_001), 'ok', 'then forgotten');
});

test('lowered: nothing refused, nothing forgotten early; a later raise extends from the lower window', () => {
  const replay = new ReplayGuard(100);
  const w = new ReplayWindow(replay, 300_000);
  w.widenTo(30_000, T);
  assert.equal(w.notBeforeMs, 0);
  assert.equal(replay.claim('new', T + 30_000, T), 'ok');
  w.widenTo(300_000, T + 1_000);
  assert.equal(w.notBeforeMs, T + 1_000 - 30_000);
  assert.equal(replay.claim('new', T + 600_000, T + 300_000), 'replay', 'an entry made under the low window is kept for the high one');
});

test('the floor is kept: a restart passes it back in, and a later widening never lowers it', () => {
  const w = new ReplayWindow(new ReplayGuard(100), 30_000, T + 5_000);
  w.widenTo(60_000, T);
  assert.equal(w.notBeforeMs, T + 5_000);
});
