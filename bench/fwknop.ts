/**
 * fwknop packet costs: FwknopVerifier.verify on valid packets and on junk that must be tried against
 * every fwknop user's HMAC key, for 1, 16 and 256 users (the configured maximum), and the HMAC
 * trials per second one core manages (what the daemon's budget of 20,000 a second is measured against).
 *   node dist/bench/fwknop.js [seconds per case, default 2]
 * Figures are printed; nothing is asserted.
 * @module
 */
import { randomFillSync } from 'node:crypto';
import { ReplayGuard } from '../src/protocol/replay.js';
import {
  FwknopKeyring,
  FwknopVerifier,
  MAX_PACKET_LENGTH,
  randomValueFrom,
  sealFwknopPacket,
  type FwknopKeys,
} from '../src/protocol/fwknop/index.js';

const SECONDS = Number(process.argv[2] ?? process.env['BENCH_SECONDS'] ?? 2);
const NOW_SEC = 1_736_942_400;
const random = (n: number): Uint8Array => randomFillSync(new Uint8Array(n));
const keysOf = (): FwknopKeys => ({ encKey: random(32), hmacKey: random(64) });

function perSecond(op: (i: number) => void): number {
  let i = 0;
  const end = process.hrtime.bigint() + BigInt(Math.round(SECONDS * 1e9));
  const start = process.hrtime.bigint();
  while (process.hrtime.bigint() < end) for (let k = 0; k < 100; k++) op(i++);
  return (i * 1e9) / Number(process.hrtime.bigint() - start);
}

function packet(keys: FwknopKeys): Uint8Array {
  const fields = {
    randomValue: randomValueFrom(random(8)),
    username: 'root',
    timestampSec: NOW_SEC,
    version: '3.0.0',
    allowIp: '203.0.113.7',
    ports: [{ proto: 'tcp' as const, port: 22 }],
    clientTimeoutSec: 0,
    digest: 'sha256' as const,
  };
  return new TextEncoder().encode(sealFwknopPacket(keys, fields, random(8)));
}

console.log(`fwknop verify, ${SECONDS} s per case`);
for (const users of [1, 16, 256]) {
  const ring = new FwknopKeyring();
  const all = Array.from({ length: users }, keysOf);
  all.forEach((k, i) => ring.add(`user${i}`, k));
  // The last user's packets: a valid packet costs every trial before it too.
  const pool = Array.from({ length: 2_000 }, () => packet(all[users - 1] as FwknopKeys));
  const junk = new TextEncoder().encode('A'.repeat(225));
  const longJunk = new TextEncoder().encode('A'.repeat(MAX_PACKET_LENGTH));
  const verifier = (): FwknopVerifier =>
    new FwknopVerifier({ keyring: ring, maxSkewMs: 30_000, replay: new ReplayGuard(1_000_000, 1_000_000) });
  let v = verifier();
  const valid = perSecond((i) => {
    if (i % pool.length === 0) v = verifier();
    if (typeof v.verify(pool[i % pool.length] as Uint8Array, NOW_SEC * 1000) === 'string') throw new Error('a valid packet was refused');
  });
  const j = verifier();
  const bad = perSecond(() => void j.verify(junk, NOW_SEC * 1000));
  const badLong = perSecond(() => void j.verify(longJunk, NOW_SEC * 1000));
  console.log(
    `${String(users).padStart(4)} users: valid (last user) ${valid.toFixed(0).padStart(7)}/s   junk 225 chars ${bad.toFixed(0).padStart(7)}/s ` +
      `(${((bad * users) / 1000).toFixed(0)}k trials/s)   junk ${MAX_PACKET_LENGTH} chars ${badLong.toFixed(0).padStart(7)}/s (${((badLong * users) / 1000).toFixed(0)}k trials/s)`,
  );
}
