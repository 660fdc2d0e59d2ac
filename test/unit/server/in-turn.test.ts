// InTurn: steps run one after another in the order asked, a failed step does not stop the next.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InTurn } from '../../../src/server/firewall/in-turn.js';

test('InTurn: a slow first step is not overtaken; a failure is its own caller’s', async () => {
  const turn = new InTurn();
  const order: string[] = [];
  const slow = turn.run(async () => {
    await new Promise((r) => setTimeout(r, 30));
    order.push('slow');
    throw new Error('slow failed');
  });
  const fast = turn.run(async () => {
    order.push('fast');
    return 7;
  });
  await assert.rejects(slow, /slow failed/);
  assert.equal(await fast, 7);
  assert.deepEqual(order, ['slow', 'fast']);
});
