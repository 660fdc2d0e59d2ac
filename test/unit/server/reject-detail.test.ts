// Reject lines for packets whose HMAC passed (stale, future, wrong-server, replay) name the user,
// the key id and, for time, the skew in seconds; a reject before the HMAC names no one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FwknopKeyring, FwknopVerifier } from '../../../src/protocol/fwknop/index.js';
import { Keyring, ReplayGuard, sealPacket, Verifier } from '../../../src/protocol/index.js';
import { AddressPolicy } from '../../../src/server/intake/address-policy.js';
import { AuthBudget, TrialBudget } from '../../../src/server/intake/auth-budget.js';
import { PacketFormats } from '../../../src/server/intake/formats.js';
import { Applier } from '../../../src/server/grants/applier.js';
import { Pipeline } from '../../../src/server/intake/pipeline.js';
import { RejectLog } from '../../../src/server/intake/reject-log.js';
import { captureLog } from '../../support/capture-log.js';
import { FakeFirewall } from '../../support/fake-firewall.js';
import { ALICE, nonceOf, OPEN_SSH, SERVER } from '../protocol/fixtures.js';

test('authenticated rejects name user, key id and skew; unauthenticated ones name no one', async () => {
  const now = (): number => OPEN_SSH.timestampMs;
  const keyring = new Keyring();
  keyring.add(ALICE);
  const replay = new ReplayGuard(64);
  const captured = captureLog();
  const applier = new Applier({ firewall: new FakeFirewall(), log: captured.log, now, save: async () => {} });
  const pipeline = new Pipeline(
    {
      log: captured.log,
      rejects: new RejectLog(captured.log, now),
      budget: new AuthBudget({ now }),
      trials: new TrialBudget(now),
      applier,
      now,
      addresses: new AddressPolicy({ loopback: false, linkLocal: false, interfaces: () => ({}) }),
    },
    {
      formats: new PacketFormats(
        new Verifier({ keyring, serverId: SERVER, maxSkewMs: 30_000, replay }),
        new FwknopVerifier({ keyring: new FwknopKeyring(), maxSkewMs: 30_000, replay }),
      ),
      users: new Map([
        ['alice', { name: 'alice', ports: OPEN_SSH.ports, maxDurationSec: 300, requireIp: false, format: 'knockspa' as const }],
      ]),
      defaultDurationSec: 30,
      notBeforeMs: 0,
    },
  );
  let source = 0;
  const send = (payload: Uint8Array): void => pipeline.handle({ payload, source: `198.18.0.${++source}`, sourcePort: 40_000 });
  const at = (offsetMs: number, n: number): Uint8Array =>
    sealPacket(ALICE, { ...OPEN_SSH, timestampMs: OPEN_SSH.timestampMs + offsetMs }, nonceOf(n));

  send(at(-95_400, 1)); // 95.4 s behind
  send(at(61_000, 2)); // 61 s ahead
  send(sealPacket(ALICE, OPEN_SSH, nonceOf(3), 'other.server'));
  const good = at(0, 4);
  send(good);
  send(good); // the same bytes again
  const forged = good.slice();
  forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
  send(forged); // bad-mac: not authenticated, so no user
  await applier.settled();

  const keyId = Buffer.from(ALICE.keyId).toString('hex');
  assert.deepEqual(
    captured.events('reject').map((l) => [l.reason, l.user, l.keyId, l.skewSec]),
    [
      ['stale', 'alice', keyId, -95.4],
      ['future', 'alice', keyId, 61],
      ['wrong-server', 'alice', keyId, undefined],
      ['replay', 'alice', keyId, undefined],
      ['bad-mac', undefined, undefined, undefined],
    ],
  );
  await applier.closeAll('shutdown');
});
