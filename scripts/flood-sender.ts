/**
 * A bounded UDP junk sender, run as its own process inside a namespace (the e2e stealth test and
 * `npm run bench`). It cycles through pre-built payloads from one connected socket per source
 * address, paced to a rate, and stops by itself after a packet count or a duration, whichever
 * comes first. Prints one JSON line: {"sent", "seconds", "pps", "dropped"} (dropped: sends skipped
 * because the socket's queue was full, i.e. the sender could not keep up).
 *
 *   node flood-sender.js --host H --port P --payloads FILE --rate PPS [--count N] [--seconds S] [--sources A,B,...]
 *
 * FILE holds one payload per line, in hex.
 * @module
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';

/** Most packets sent per turn of the event loop; sockets' queues are checked between turns. */
const BATCH = 256;
/** A socket with this many sends queued in user space is skipped: the kernel is not keeping up. */
const MAX_QUEUED = 64;
/** Hard limits, whatever the arguments say: the sender must always stop by itself. */
const MAX_SECONDS = 300;
const MAX_RATE = 1_000_000;

export interface FloodResult {
  readonly sent: number;
  readonly seconds: number;
  readonly pps: number;
  readonly dropped: number;
}

function open(host: string, port: number, source: string | undefined): Promise<Socket> {
  const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: source, port: 0 }, () => {
      socket.connect(port, host, () => {
        socket.off('error', reject);
        socket.on('error', () => undefined); // ICMP errors on a connected socket: not our concern
        resolve(socket);
      });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      payloads: { type: 'string' },
      rate: { type: 'string' },
      count: { type: 'string' },
      seconds: { type: 'string' },
      sources: { type: 'string' },
    },
  });
  const need = (name: keyof typeof values): string => {
    const v = values[name];
    if (typeof v !== 'string' || v === '') throw new Error(`--${name} is required`);
    return v;
  };
  const host = need('host');
  const port = Number(need('port'));
  const rate = Math.min(Number(need('rate')), MAX_RATE);
  const count = values.count === undefined ? Infinity : Number(values.count);
  const seconds = Math.min(values.seconds === undefined ? MAX_SECONDS : Number(values.seconds), MAX_SECONDS);
  if (!(rate > 0) || !(count > 0) || !(seconds > 0) || !Number.isInteger(port))
    throw new Error('--rate, --count, --seconds must be positive, --port an integer');
  const payloads = readFileSync(need('payloads'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((hex) => Buffer.from(hex.trim(), 'hex'));
  if (payloads.length === 0) throw new Error('no payloads');
  const sources = values.sources === undefined ? [undefined] : values.sources.split(',');
  const sockets = await Promise.all(sources.map((s) => open(host, port, s)));

  let sent = 0;
  let dropped = 0;
  const start = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - start) / 1e9;
  await new Promise<void>((resolve) => {
    const turn = (): void => {
      const t = elapsed();
      if (sent + dropped >= count || t >= seconds) return resolve();
      const due = Math.min(BATCH, Math.floor(rate * t) - sent - dropped, count - sent - dropped);
      for (let i = 0; i < due; i++) {
        const n = sent + dropped;
        const socket = sockets[n % sockets.length] as Socket;
        if (socket.getSendQueueCount() >= MAX_QUEUED) dropped++;
        else {
          socket.send(payloads[n % payloads.length] as Buffer);
          sent++;
        }
      }
      // Ahead of schedule: yield to the loop without spinning it hot.
      if (due <= 0) setTimeout(turn, 1);
      else setImmediate(turn);
    };
    turn();
  });
  const t = elapsed();
  const result: FloodResult = { sent, seconds: Math.round(t * 1000) / 1000, pps: Math.round(sent / t), dropped };
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  console.log(JSON.stringify(result));
}

main().catch((err: unknown) => {
  console.error(`flood-sender: ${(err as Error).message}`);
  process.exit(2);
});
