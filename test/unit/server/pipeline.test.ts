// The pipeline's durability order, with the real verifier and grants on a fake firewall:
// the state (with the knock's replay claim) is saved before any knock takes effect, once per open.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Keyring, ReplayGuard, sealPacket, Verifier } from '../../../src/protocol/index.js';
import { AuthBudget } from '../../../src/server/auth-budget.js';
import { Grants } from '../../../src/server/grants.js';
import { Pipeline } from '../../../src/server/pipeline.js';
import { RejectLog } from '../../../src/server/reject-log.js';
import { captureLog } from '../../support/capture-log.js';
import { FakeFirewall } from '../../support/fake-firewall.js';
import { ALICE, nonceOf, OPEN_SSH, SERVER } from '../protocol/fixtures.js';

function setup(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const now = (): number => OPEN_SSH.timestampMs;
  const keyring = new Keyring();
  keyring.add(ALICE);
  const replay = new ReplayGuard(1024);
  const verifier = new Verifier({ keyring, serverId: SERVER, maxSkewMs: 30_000, replay });
  const captured = captureLog();
  const fw = new FakeFirewall();
  /** What was on "disk" at each save: the replay ids and the firewall's rules at that moment. */
  const saves: Array<{ replay: number; rules: number }> = [];
  const persist = async (): Promise<void> => {
    saves.push({ replay: replay.size, rules: fw.rules.size });
  };
  const grants = new Grants({ firewall: fw, log: captured.log, now, persist });
  const pipeline = new Pipeline(
    { log: captured.log, rejects: new RejectLog(captured.log, now), budget: new AuthBudget({ now }), grants, now, persist },
    { verifier, users: new Map([['alice', { name: 'alice', ports: OPEN_SSH.ports, maxDurationSec: 300, requireIp: false }]]), defaultDurationSec: 30, notBeforeMs: 0 },
  );
  const knock = async (action: 'open' | 'close', n: number): Promise<void> => {
    pipeline.handle({ payload: sealPacket(ALICE, { ...OPEN_SSH, action }, nonceOf(n)), source: '198.18.0.2', sourcePort: 40_000 });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    await grants.settled();
  };
  return { knock, saves, fw };
}

test('an open knock: one save, holding its replay claim, before the rule goes in', async (t) => {
  const { knock, saves, fw } = setup(t);
  await knock('open', 1);
  assert.deepEqual(fw.calls, ['open 198.18.0.2 tcp/22']);
  assert.deepEqual(saves, [{ replay: 1, rules: 0 }]);
});

test('an extending open and a close also save their claim before taking effect', async (t) => {
  const { knock, saves, fw } = setup(t);
  await knock('open', 1);
  await knock('open', 2);
  assert.deepEqual(saves.at(-1), { replay: 2, rules: 1 }, 'extension: saved with the second claim');
  await knock('close', 3);
  assert.deepEqual(saves.slice(2), [{ replay: 3, rules: 1 }, { replay: 3, rules: 0 }], 'close: claim saved while the rule is still in, then the grant\'s removal');
  assert.deepEqual(fw.calls, ['open 198.18.0.2 tcp/22', 'close 198.18.0.2 tcp/22']);
});
