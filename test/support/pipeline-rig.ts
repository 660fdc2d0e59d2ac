/**
 * A Pipeline with the real budgets and a fake firewall behind an Applier, for flood tests on a fake
 * clock: `send` hands it a datagram, `settle` lets queued work and the firewall batch finish.
 */
import { AddressPolicy } from '../../src/server/intake/address-policy.js';
import { AuthBudget, TrialBudget } from '../../src/server/intake/auth-budget.js';
import type { PacketFormats } from '../../src/server/intake/formats.js';
import { Applier } from '../../src/server/grants/applier.js';
import { Pipeline } from '../../src/server/intake/pipeline.js';
import { RejectLog } from '../../src/server/intake/reject-log.js';
import { captureLog } from './capture-log.js';
import { FakeFirewall } from './fake-firewall.js';

type Users = ConstructorParameters<typeof Pipeline>[1]['users'];

export interface PipelineRigOptions {
  readonly now: () => number;
  readonly formats: PacketFormats;
  readonly users: Users;
  /** The daemon-wide authentication budget, per second. */
  readonly globalPerSec: number;
}

export function pipelineRig(o: PipelineRigOptions) {
  const captured = captureLog();
  const fw = new FakeFirewall();
  const grants = new Applier({ firewall: fw, log: captured.log, now: o.now, save: () => {} });
  const rejects = new RejectLog(captured.log, o.now);
  const pipeline = new Pipeline(
    {
      log: captured.log,
      rejects,
      budget: new AuthBudget({ now: o.now, globalPerSec: o.globalPerSec }),
      trials: new TrialBudget(o.now),
      applier: grants,
      now: o.now,
      addresses: new AddressPolicy({ loopback: false, linkLocal: false, interfaces: () => ({}) }),
    },
    { formats: o.formats, users: o.users, defaultDurationSec: 30, notBeforeMs: 0 },
  );
  const send = (payload: Uint8Array, source: string): void => pipeline.handle({ payload, source, sourcePort: 40_000 });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    await grants.settled();
  };
  return { captured, fw, rejects, send, settle };
}
