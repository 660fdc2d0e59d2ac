/**
 * Output for the knock commands, written so that they can end with process.exit rather than wait
 * for Node to wind down (its idle tasks, handle and heap teardown), and without building
 * process.stdout.
 * Lines go out with writeSync, so none is lost by exiting. If fd 1 cannot take them at once (a
 * non-blocking pipe that is full), the rest goes through process.stdout and `exitAfterOutput`
 * waits for it.
 * @module
 */
import { writeSync } from 'node:fs';

let queued: Promise<void> | undefined;

function isWouldBlock(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

/** Writes `line` and a newline to stdout. As with console.log, a write that fails (a closed stdout: EPIPE) is not an error. */
export function printLine(line: string): void {
  const data = Buffer.from(`${line}\n`);
  let written = 0;
  if (queued === undefined) {
    try {
      while (written < data.length) written += writeSync(1, data, written);
    } catch (err) {
      if (!isWouldBlock(err)) return;
    }
  }
  const rest = data.subarray(written);
  if (rest.length === 0) return;
  if (queued === undefined) process.stdout.on('error', () => undefined); // EPIPE later on: as above
  const before = queued ?? Promise.resolve();
  queued = before.then(() => new Promise<void>((resolve) => void process.stdout.write(rest, () => resolve())));
}

/** Ends the process with `code` once every line printed has been written. */
export async function exitAfterOutput(code: number): Promise<never> {
  await queued;
  process.exit(code);
}
