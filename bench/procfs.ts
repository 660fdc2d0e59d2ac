/**
 * What the benchmark reads about a daemon from /proc: CPU time used (utime + stime from
 * /proc/PID/stat, in seconds) and peak resident memory (VmHWM from /proc/PID/status).
 * @module
 */
import { readFileSync } from 'node:fs';
import { sleep } from '../test/lab/process.js';

/** Clock ticks per second for /proc/PID/stat (sysconf(_SC_CLK_TCK); 100 on every Linux we run on). */
const CLK_TCK = 100;

/** The process's name (/proc/PID/comm). */
export function comm(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/** User + system CPU seconds the process has used so far (not its children's). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3, utime 14, stime 15 (proc(5)); comm may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Peak resident set size in MB (VmHWM). */
export function peakRssMb(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

/** Waits until the process's CPU time stops growing (it has worked off its backlog); at most maxMs. */
export async function waitIdle(pid: number, maxMs = 10_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = cpuSeconds(pid);
  let still = 0;
  while (still < 2 && Date.now() < deadline) {
    await sleep(250);
    const now = cpuSeconds(pid);
    still = now === last ? still + 1 : 0;
    last = now;
  }
}
