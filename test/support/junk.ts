/**
 * Invalid knocks of each kind an attacker can make, for the flood tests and the benchmark:
 * random bytes, the right shape with an unknown key id, a known key id with a bad tag, and
 * authentic-but-refused packets (stale, for another server); and running the bounded flood
 * sender (scripts/flood-sender.ts) with them from a namespace.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAGIC, PACKET_SIZE, VERSION } from '../../src/protocol/constants.js';
import type { FloodResult } from '../../scripts/flood-sender.js';
import type { TestNet } from '../lab/netns.js';
import { NODE, type NsProcess } from '../lab/process.js';
import { craftPacket, REPO_ROOT } from './knockspa.js';

export const FLOOD_SENDER = join(REPO_ROOT, 'dist', 'scripts', 'flood-sender.js');

export type JunkKind = 'random' | 'unknown-key' | 'bad-tag' | 'stale' | 'wrong-server';

/** What the daemon logs for each kind (random bytes of the right length: almost always bad-magic). */
export const JUNK_REASON: Record<JunkKind, string> = {
  random: 'bad-magic',
  'unknown-key': 'unknown-key',
  'bad-tag': 'bad-mac',
  stale: 'stale',
  'wrong-server': 'wrong-server',
};

/** `count` distinct payloads of `kind`; `keyFile` is a key the server knows (for the kinds that need one). */
export function junkPayloads(kind: JunkKind, count: number, keyFile: string): Uint8Array[] {
  return Array.from({ length: count }, () => {
    switch (kind) {
      case 'random': {
        const p = new Uint8Array(randomBytes(PACKET_SIZE));
        if (p[0] === MAGIC) p[0] = 0; // keep it "random" in what the daemon sees: not a v1 header
        return p;
      }
      case 'unknown-key': {
        const p = new Uint8Array(randomBytes(PACKET_SIZE));
        p[0] = MAGIC;
        p[1] = VERSION;
        return p;
      }
      case 'bad-tag': {
        const p = craftPacket({ keyFile });
        p[PACKET_SIZE - 1]! ^= 0x01;
        return p;
      }
      case 'stale':
        return craftPacket({ keyFile, timestampMs: Date.now() - 3_600_000 });
      case 'wrong-server':
        return craftPacket({ keyFile, serverId: 'another.server.test' });
    }
  });
}

/** Writes payloads as the flood sender reads them: one hex line each. */
export function writePayloads(file: string, payloads: readonly Uint8Array[]): string {
  writeFileSync(file, payloads.map((p) => Buffer.from(p).toString('hex')).join('\n') + '\n');
  return file;
}

export interface FloodOptions {
  readonly host: string;
  readonly port: number;
  /** File of hex payloads ({@link writePayloads}). */
  readonly payloads: string;
  readonly rate: number;
  readonly count?: number;
  readonly seconds?: number;
  /** Local addresses to send from, one socket each. */
  readonly sources?: readonly string[];
}

/** Starts the flood sender in `ns`; `result` resolves with its summary once it has stopped by itself. */
export function startFlood(net: TestNet, ns: string, o: FloodOptions): { proc: NsProcess; result: Promise<FloodResult> } {
  const argv = [NODE, FLOOD_SENDER, '--host', o.host, '--port', String(o.port), '--payloads', o.payloads, '--rate', String(o.rate)];
  if (o.count !== undefined) argv.push('--count', String(o.count));
  if (o.seconds !== undefined) argv.push('--seconds', String(o.seconds));
  if (o.sources !== undefined) argv.push('--sources', o.sources.join(','));
  const proc = net.spawnIn(ns, argv);
  const result = proc.done.then(({ code }) => {
    const line = proc.lines.find((l) => l.startsWith('{'));
    if (code !== 0 || line === undefined) throw new Error(`flood sender failed (exit ${code})\n${proc.describe()}`);
    return JSON.parse(line) as FloodResult;
  });
  return { proc, result };
}
