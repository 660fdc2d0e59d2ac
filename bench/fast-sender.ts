/**
 * The fast junk sender (bench/junk-sender.c, sendmmsg): built with the system compiler (`cc`) into
 * the bench's temp directory when first needed, and run in a namespace like the Node flood sender
 * (test/support/junk.ts startFlood), with the same options and the same JSON summary. Bounded by
 * count and time: it stops by itself.
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FloodResult } from '../scripts/flood-sender.js';
import type { TestNet } from '../test/lab/netns.js';
import { runOk, type NsProcess } from '../test/lab/process.js';
import type { FloodOptions } from '../test/support/junk.js';
import { REPO_ROOT } from '../test/support/knockspa.js';

const SOURCE = join(REPO_ROOT, 'bench', 'junk-sender.c');

/** Compiles the sender into `dir` (once); its path. Throws with the compiler's output if it fails. */
export async function buildFastSender(dir: string): Promise<string> {
  const binary = join(dir, 'junk-sender');
  if (!existsSync(binary)) await runOk(null, ['cc', '-O2', '-Wall', '-o', binary, SOURCE], { timeoutMs: 60_000 });
  return binary;
}

/** Starts it in `ns`; rate 0 (or none) sends as fast as it goes. Needs a count or seconds bound. */
export function startFastFlood(
  net: TestNet,
  ns: string,
  binary: string,
  o: Omit<FloodOptions, 'rate'> & { readonly rate?: number },
): { proc: NsProcess; result: Promise<FloodResult> } {
  const count = o.count ?? 100_000_000;
  const seconds = o.seconds ?? 300;
  const argv = [binary, o.host, String(o.port), o.payloads, String(count), String(seconds), String(o.rate ?? 0), ...(o.sources ?? [])];
  const proc = net.spawnIn(ns, argv);
  const result = proc.done.then(({ code }) => {
    const line = proc.lines.find((l) => l.startsWith('{'));
    if (code !== 0 || line === undefined) throw new Error(`fast junk sender failed (exit ${code})\n${proc.describe()}`);
    return JSON.parse(line) as FloodResult;
  });
  return { proc, result };
}
