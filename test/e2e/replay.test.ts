/**
 * (c) The exact bytes of a captured open knock (--dump-packet), sent again, open nothing: the
 * daemon rejects them as a replay, also from another address, and also after a restart with the
 * same state_dir. A state file written before a reboot (another boot id) may lack its last save
 * (no fsync): knocks stamped before the restart + max_skew are then refused, and so they are when
 * the state file is lost (a captured knock stamped ahead is the case that matters).
 */
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { canConnect, sendUdp, tcpConnect } from '../lab/probes.js';
import { DROP_TIMEOUT_MS, e2eNet, PROTECTED_PORT, withScenario, type Scenario } from '../support/e2e.js';
import { frame, parseState } from '../../src/server/state/state.js';
import { craftPacket, grantRule, knockOk, SPA_PORT } from '../support/knockspa.js';

/** Closes alice's grant with a fresh knock once the lost cache's window (`waitMs` after start) has passed. */
async function knockOkAfterWindow(s: Scenario, key: string, waitMs: number): Promise<void> {
  await sleep(Math.max(0, Date.parse(String(s.daemon.start.time)) + waitMs - Date.now()));
  await knockOk(s.net, 'close', ['22'], { host: s.net.serverV4, key });
}

/** A fresh open knock from the client opens the port (the check after every refusal). */
async function freshKnockOpens(s: Scenario, key: string, what: string): Promise<void> {
  const m = s.daemon.mark();
  await knockOk(s.net, 'open', ['22'], { host: s.net.serverV4, key, duration: 5 });
  await s.daemon.waitEvent('open', { ip: s.net.clientV4 }, { since: m });
  assert.equal(await canConnect(s.net, s.net.cli, s.net.serverV4, PROTECTED_PORT), true, what);
}

/** `bytes` sent again from the client are refused as a replay: no knock, no rule, no connection. */
async function replayOpensNothing(s: Scenario, bytes: Uint8Array, what: string): Promise<void> {
  const m = s.daemon.mark();
  await sendUdp(s.net, s.net.cli, s.net.serverV4, SPA_PORT, bytes);
  await s.daemon.waitEvent('reject', { reason: 'replay', source: s.net.clientV4 }, { since: m });
  assert.deepEqual(s.daemon.events('knock', m), [], `no knock event: ${what}`);
  await s.assertBase(`no rule: ${what}`);
  assert.equal(
    (await tcpConnect(s.net, s.net.cli, s.net.serverV4, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome,
    'timeout',
    what,
  );
}

test('replay protection', { timeout: 120_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;

  await t.test('(c) a replayed open knock opens nothing, before and after a restart', (t) =>
    withScenario(t, net, {}, async (s) => {
      const host = net.serverV4;
      const key = s.site.keyPath('alice');
      const dump = join(s.site.dir, 'open.bin');

      let m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, dumpPacket: dump });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      const bytes = new Uint8Array(readFileSync(dump));
      assert.equal(bytes.length, 146, 'the dump is one v1 packet');
      assert.equal(bytes[0], 0xcb, 'magic byte');
      assert.deepEqual(await s.extra(4), [grantRule(net.clientV4, 'tcp', PROTECTED_PORT)]);

      m = s.daemon.mark();
      await knockOk(net, 'close', ['22'], { host, key });
      await s.daemon.waitEvent('close', { why: 'knock' }, { since: m });
      await s.assertBase('closed before the replay');

      // Replay from the same address.
      m = s.daemon.mark();
      await sendUdp(net, net.cli, host, SPA_PORT, bytes);
      const rej = await s.daemon.waitEvent('reject', { reason: 'replay' }, { since: m });
      assert.equal(rej.source, net.clientV4);
      // Replay from another address (an eavesdropper elsewhere).
      await sendUdp(net, net.cli, host, SPA_PORT, bytes, { localAddress: net.client2V4 });
      await s.daemon.waitEvent('reject', { reason: 'replay', source: net.client2V4 }, { since: m });
      assert.deepEqual(s.daemon.events('open', m), [], 'no open event for a replay');
      assert.deepEqual(s.daemon.events('knock', m), [], 'no knock event for a replay');
      await s.assertBase('no rule after the replay');
      assert.equal((await tcpConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome, 'timeout');

      // Restart with the same state_dir: the replay cache survives.
      const exit = await s.daemon.stop('SIGTERM');
      assert.equal(exit.code, 0, 'SIGTERM: exit 0');
      await s.startAgain();
      await replayOpensNothing(s, bytes, 'the replay after the restart');

      await freshKnockOpens(s, key, 'a fresh knock still opens after the restart');
    }),
  );

  await t.test(
    '(c) a state file from an earlier boot: knocks made before the restart are refused, fresh ones open once the skew window has passed',
    (t) =>
      withScenario(t, net, { extra: { max_skew: 3 } }, async (s) => {
        const host = net.serverV4;
        const keyFile = s.site.keyPath('alice');
        const stateFile = join(s.site.stateDir, 'state.json');
        for (const boot of ['same', 'earlier'] as const) {
          const stopped = await s.daemon.stop('SIGTERM');
          assert.equal(stopped.code, 0, `SIGTERM: exit 0 (got ${JSON.stringify(stopped)})`);
          const saved = parseState(readFileSync(stateFile, 'utf8'));
          assert.match(saved.bootId ?? '', /^[0-9a-f-]{36}$/, 'the state file records the boot');
          if (boot === 'earlier')
            writeFileSync(stateFile, frame(JSON.stringify({ ...saved, bootId: '00000000-0000-4000-8000-000000000000' })));
          // Made (stamped) before the restart, sent after it.
          const early = craftPacket({ keyFile, durationSec: 5 });
          await new Promise((r) => setTimeout(r, 20));
          await s.startAgain();
          const m = s.daemon.mark();
          await sendUdp(net, net.cli, host, SPA_PORT, early);
          if (boot === 'same') {
            await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
            await knockOk(net, 'close', ['22'], { host, key: keyFile });
            await s.daemon.waitEvent('close', { why: 'knock' }, { since: m });
            continue;
          }
          await s.daemon.waitEvent('reject', { reason: 'stale', source: net.clientV4 }, { since: m });
          assert.deepEqual(s.daemon.events('open', m), [], 'nothing opened for the early knock');
          await s.assertBase('no rule for the early knock');
          await sleep(3_100); // max_skew: until then the lost cache vouches for nothing
          await freshKnockOpens(s, keyFile, 'a fresh knock opens');
        }
      }),
  );

  await t.test(
    '(c) state lost (SIGKILL, state file deleted): a knock captured before, stamped ahead within max_skew, replayed from another address opens nothing',
    (t) =>
      withScenario(t, net, { extra: { max_skew: 4 } }, async (s) => {
        const host = net.serverV4;
        const keyFile = s.site.keyPath('alice');
        // A client whose clock runs 3 s ahead: accepted, and captured on its way.
        const ahead = craftPacket({ keyFile, durationSec: 60, timestampMs: Date.now() + 3_000 });
        const m = s.daemon.mark();
        await sendUdp(net, net.cli, host, SPA_PORT, ahead);
        await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
        await s.daemon.stop('SIGKILL');
        rmSync(join(s.site.stateDir, 'state.json'));
        const d = await s.startAgain();
        await s.daemon.waitEvent('open', { ip: net.clientV4, restored: true });
        const m1 = d.mark();
        await knockOkAfterWindow(s, keyFile, 4_100);
        await d.waitEvent('close', { why: 'knock' }, { since: m1 });
        // The eavesdropper replays the bytes, from its own address, with the skew window still open for them.
        const m2 = d.mark();
        await sendUdp(net, net.cli, host, SPA_PORT, ahead, { localAddress: net.client2V4 });
        await d.waitEvent('reject', { source: net.client2V4 }, { since: m2 });
        assert.deepEqual(d.events('open', m2), [], 'nothing opened for the replay');
        await s.assertBase('no rule for the replay');
      }),
  );

  await t.test('(c) SIGKILL right after a knock took effect: after the restart its bytes are a replay', (t) =>
    withScenario(t, net, {}, async (s) => {
      const host = net.serverV4;
      const key = s.site.keyPath('alice');
      const dump = join(s.site.dir, 'killed.bin');
      const m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, dumpPacket: dump, duration: 5 });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      const killed = await s.daemon.stop('SIGKILL');
      assert.equal(killed.signal, 'SIGKILL', 'no clean stop: no final save');
      await s.startAgain();
      // The killed daemon's grant is still in the firewall: close it with a fresh knock, so that
      // the firewall itself shows whether the replayed bytes open anything.
      const m1 = s.daemon.mark();
      await knockOk(net, 'close', ['22'], { host, key });
      await s.daemon.waitEvent('close', { why: 'knock' }, { since: m1 });
      await s.assertBase('the grant from before the kill is closed');
      await replayOpensNothing(s, new Uint8Array(readFileSync(dump)), 'the knock was saved before it took effect');
    }),
  );
});
