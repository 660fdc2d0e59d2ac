/**
 * The load a group puts on its Redis, run by bench/cluster.ts in the namespace Redis runs in (or
 * by hand against any Redis): per knock one claim (SET NX PX) and, with grants = "everywhere", one
 * stream entry (XADD) that every gateway reads (XREAD BLOCK). Starts `--readers` reading
 * connections (the other gateways), then sends knocks from `--concurrency` parallel loops for
 * `--seconds`, and prints one JSON line: knocks/s, and entries delivered to readers per second.
 *
 *   node dist/bench/cluster-load.js --url redis://:PASS@HOST:6379/0 --readers 8 [--seconds 5] [--concurrency 64]
 * @module
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createClient } from '@redis/client';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    readers: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    prefix: { type: 'string', default: `load-${randomBytes(3).toString('hex')}` },
  },
});
if (values.url === undefined) throw new Error('--url redis://... is required');
const readers = Number(values.readers);
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const stream = `${values.prefix}:grants`;

/** The part of a client used here. */
interface Client {
  sendCommand(args: readonly string[]): Promise<unknown>;
  destroy(): void;
}

async function client(): Promise<Client> {
  const c = createClient({ url: values.url, RESP: 2 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

let stop = false;
let delivered = 0;
const readerClients = await Promise.all(Array.from({ length: readers }, () => client()));
const reading = readerClients.map(async (c) => {
  let last = '$';
  while (!stop) {
    type Reply = Array<[string, Array<[string, string[]]>]> | null;
    const reply = (await c.sendCommand(['XREAD', 'COUNT', '500', 'BLOCK', '200', 'STREAMS', stream, last])) as Reply;
    const entries = reply?.[0]?.[1] ?? [];
    delivered += entries.length;
    if (entries.length > 0) last = (entries[entries.length - 1] as [string, string[]])[0];
  }
});
// Readers are blocked on the stream before the first knock.
await new Promise((r) => setTimeout(r, 300));

const writer = await client();
let knocks = 0;
const fields = ['origin', 'gw-0', 'kind', 'open', 'user', 'alice', 'ip', '198.18.0.2', 'family', '4', 'proto', 'tcp', 'port', '22'];
const t0 = performance.now();
const until = t0 + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const id = randomBytes(20).toString('hex');
      await writer.sendCommand(['SET', `${values.prefix}:replay:${id}`, '1', 'NX', 'PX', '60000']);
      await writer.sendCommand(['XADD', stream, 'MAXLEN', '~', '100000', '*', ...fields, 'deadline', String(Date.now() + 60_000)]);
      knocks++;
    }
  }),
);
const elapsed = (performance.now() - t0) / 1000;
await new Promise((r) => setTimeout(r, 500));
stop = true;
await Promise.all(reading);
await writer.sendCommand(['DEL', stream]);
const deliveredPerSec = delivered / elapsed;
process.stdout.write(`${JSON.stringify({ readers, concurrency, seconds: elapsed, knocksPerSec: knocks / elapsed, deliveredPerSec })}\n`);
for (const c of [writer, ...readerClients]) c.destroy();
