// The applier writes the "knock accepted" line once the knock's state is saved and its batch handed to the
// firewall, not before (a synchronous log write would hold the rule back) nor after the firewall
// answers, and still says everything about the knock.
import { AddressPolicy } from '../../../src/server/intake/address-policy.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FwknopKeyring, FwknopVerifier } from '../../../src/protocol/fwknop/index.js';
import { Keyring, ReplayGuard, sealPacket, Verifier, type KnockFields } from '../../../src/protocol/index.js';
import { AuthBudget, TrialBudget } from '../../../src/server/intake/auth-budget.js';
import type { Change } from '../../../src/server/firewall/firewall.js';
import { PacketFormats } from '../../../src/server/intake/formats.js';
import { Applier } from '../../../src/server/grants/applier.js';
import { Pipeline } from '../../../src/server/intake/pipeline.js';
import { RejectLog } from '../../../src/server/intake/reject-log.js';
import { captureLog } from '../../support/capture-log.js';
import { FakeFirewall } from '../../support/fake-firewall.js';
import { ALICE, nonceOf, OPEN_SSH, SERVER } from '../protocol/fixtures.js';

/** Two ports: two grant jobs in one batch, one knock line. */
const TWO_PORTS: KnockFields = {
  ...OPEN_SSH,
  ports: [
    { proto: 'tcp', port: 22 },
    { proto: 'udp', port: 51820 },
  ],
};

function setup() {
  const now = (): number => OPEN_SSH.timestampMs;
  const keyring = new Keyring();
  keyring.add(ALICE);
  const replay = new ReplayGuard(64);
  const captured = captureLog();
  const order: string[] = [];
  const knockLines = (): number => captured.events('knock').length;
  let release = (): void => {};
  const held = new Promise<void>((r) => (release = r));
  const fw = new (class extends FakeFirewall {
    /** Holds batches until release(): the tool is still committing. */
    override async apply(changes: readonly Change[]) {
      order.push(`apply (knock lines: ${knockLines()})`);
      await held;
      return super.apply(changes);
    }
  })();
  const persist = async (): Promise<void> => void order.push(`persist (knock lines: ${knockLines()})`);
  const grants = new Applier({ firewall: fw, log: captured.log, now, save: persist });
  const pipeline = new Pipeline(
    {
      log: captured.log,
      rejects: new RejectLog(captured.log, now),
      budget: new AuthBudget({ now }),
      trials: new TrialBudget(now),
      applier: grants,
      now,
      addresses: new AddressPolicy({ loopback: false, linkLocal: false, interfaces: () => ({}) }),
    },
    {
      formats: new PacketFormats(
        new Verifier({ keyring, serverId: SERVER, maxSkewMs: 30_000, replay }),
        new FwknopVerifier({ keyring: new FwknopKeyring(), maxSkewMs: 30_000, replay }),
      ),
      users: new Map([
        ['alice', { name: 'alice', ports: TWO_PORTS.ports, maxDurationSec: 300, requireIp: false, format: 'knockspa' as const }],
      ]),
      defaultDurationSec: 30,
      notBeforeMs: 0,
    },
  );
  const knock = (fields: KnockFields, n: number): void =>
    pipeline.handle({ payload: sealPacket(ALICE, fields, nonceOf(n)), source: '198.18.0.2', sourcePort: 40_000 });
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  return { fw, grants, captured, order, knock, turn, release };
}

test('a knock is logged once its state is saved and its batch is with the firewall, before the firewall answers', async () => {
  const { fw, grants, captured, order, knock, turn, release } = setup();
  knock(TWO_PORTS, 1);
  assert.deepEqual(captured.events('knock'), [], 'nothing logged while the packet is handled');
  await turn();
  assert.deepEqual(order, ['persist (knock lines: 0)', 'apply (knock lines: 0)'], 'saved, then the batch, both before the line');
  const [line] = captured.events('knock');
  assert.ok(line !== undefined, 'logged while the firewall is still at work');
  assert.equal(line.msg, 'knock accepted');
  assert.deepEqual(
    {
      user: line.user,
      action: line.action,
      ip: line.ip,
      source: line.source,
      ports: line.ports,
      format: line.format,
      keyId: line.keyId,
      duration: line.duration,
      capped: line.capped,
    },
    {
      user: 'alice',
      action: 'open',
      ip: '198.18.0.2',
      source: '198.18.0.2',
      ports: ['tcp/22', 'udp/51820'],
      format: 'knockspa',
      keyId: Buffer.from(ALICE.keyId).toString('hex'),
      duration: 30,
      capped: false,
    },
  );
  release();
  await grants.settled();
  assert.deepEqual([...fw.rules].sort(), ['198.18.0.2 tcp/22', '198.18.0.2 udp/51820']);
  assert.equal(captured.events('knock').length, 1, 'one line per knock, not per port');
  await grants.closeAll('shutdown'); // and its expiry timer with it
});

test('a knock that changes nothing (a close of a grant that is not open) is logged all the same', async () => {
  const { captured, order, knock, turn } = setup();
  knock({ ...OPEN_SSH, action: 'close' }, 2);
  await turn();
  assert.deepEqual(order, ['persist (knock lines: 0)'], 'saved (its replay entry), no batch');
  assert.deepEqual(
    captured.events('knock').map((l) => [l.msg, l.action]),
    [['knock accepted', 'close']],
  );
});
