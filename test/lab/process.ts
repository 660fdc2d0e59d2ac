/**
 * Processes for the lab: one-shot commands ({@link run}, {@link runOk}) and long-running ones
 * ({@link NsProcess}), each started in a network namespace through `ip netns exec` or, with ns null,
 * where the caller runs. Always argument arrays, never a shell string. Every child is tracked, so
 * {@link killAllChildrenSync} can end what a dying run still has running.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';

export const NODE = process.execPath;

export interface RunOptions {
  /** Kill the command (SIGKILL) after this long. Default 15 s. */
  timeoutMs?: number;
  /** Written to stdin, which is then closed. */
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface RunResult {
  /** Exit code, or null if killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  argv: readonly string[];
}

/** Every child process this module started and that has not exited yet. */
const liveChildren = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  liveChildren.add(child);
  const forget = (): void => {
    liveChildren.delete(child);
  };
  child.once('exit', forget);
  child.once('error', forget);
}

/** SIGKILLs every child still running (process 'exit' and signal handlers). */
export function killAllChildrenSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  liveChildren.clear();
}

function nsArgv(ns: string | null, argv: readonly string[]): string[] {
  if (argv.length === 0) throw new Error('run: empty argv');
  return ns === null ? [...argv] : ['ip', 'netns', 'exec', ns, ...argv];
}

/**
 * Runs argv (an argument array, never a shell string) inside namespace `ns`, or in the current
 * namespace when `ns` is null, and collects its output. Never rejects for a non-zero exit.
 */
export function run(ns: string | null, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = nsArgv(ns, argv);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const child = spawn(full[0] as string, full.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    track(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.stdin?.on('error', () => {});
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${full.join(' ')}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        argv: full,
      });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Like {@link run}, but rejects (with the output in the message) unless the command exits 0. */
export async function runOk(ns: string | null, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(ns, argv, opts);
  if (r.code !== 0) {
    throw new Error(
      `command failed (${r.timedOut ? 'timed out' : r.code === null ? `signal ${r.signal}` : `exit ${r.code}`}): ${r.argv.join(' ')}\n` +
        `stdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`,
    );
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Long-running processes

export type LogLine = Record<string, unknown>;

export interface WaitOptions {
  timeoutMs?: number;
  /** Only consider JSON lines at or after this index (from {@link NsProcess.mark}). Default 0. */
  since?: number;
}

/**
 * A process started inside a namespace. Collects stdout line by line (and every line that parses as
 * a JSON object into `json`), and stderr as text.
 */
export class NsProcess {
  readonly child: ChildProcess;
  readonly argv: readonly string[];
  /** Every stdout line, in order. */
  readonly lines: string[] = [];
  /** Every stdout line that is a JSON object, parsed, in order. */
  readonly json: LogLine[] = [];
  stderr = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  exited = false;
  /** Resolves when the process has exited and its output is fully read. */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = '';
  private waiters = new Set<() => void>();

  constructor(ns: string | null, argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
    this.argv = nsArgv(ns, argv);
    this.child = spawn(this.argv[0] as string, this.argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    track(this.child);
    this.child.stdin?.on('error', () => {});
    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.done = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exited) return;
        if (this.partial !== '') this.addLine(this.partial);
        this.partial = '';
        this.exited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        this.notify();
        resolve({ code, signal });
      };
      this.child.once('close', finish);
      this.child.once('error', (e) => {
        this.stderr += `\n[spawn error] ${e.message}`;
        finish(null, null);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private onStdout(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.addLine(line);
    this.notify();
  }

  private addLine(raw: string): void {
    const line = raw.replace(/\r$/, '');
    this.lines.push(line);
    const trimmed = line.trim();
    if (trimmed.startsWith('{')) {
      try {
        const value: unknown = JSON.parse(trimmed);
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) this.json.push(value as LogLine);
      } catch {
        // not JSON: kept in `lines` only
      }
    }
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** The index the next JSON line will get: pass it as `since` to wait only for later lines. */
  mark(): number {
    return this.json.length;
  }

  /** JSON lines at or after `since` that match. */
  find(pred: (line: LogLine) => boolean, since = 0): LogLine[] {
    return this.json.slice(since).filter(pred);
  }

  /**
   * Resolves with the first JSON line (at or after `since`) that matches. Rejects on timeout or if
   * the process exits first; the error carries the recent output, for the test report.
   */
  waitForJson(pred: (line: LogLine) => boolean, opts: WaitOptions = {}): Promise<LogLine> {
    const since = opts.since ?? 0;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return this.waitUntil(
      () => {
        for (let i = since; i < this.json.length; i++) {
          const line = this.json[i] as LogLine;
          if (pred(line)) return line;
        }
        return undefined;
      },
      timeoutMs,
      `a matching JSON line (since #${since})`,
    );
  }

  /** Resolves with the first stdout line (any, not only JSON) that matches. */
  waitForLine(pred: (line: string) => boolean, timeoutMs = 10_000): Promise<string> {
    return this.waitUntil(() => this.lines.find(pred), timeoutMs, 'a matching stdout line');
  }

  /** Resolves with the first non-undefined result of probe, re-run on every output; rejects on timeout or exit. */
  waitUntil<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        const found = probe();
        if (found !== undefined) {
          cleanup();
          resolve(found);
        } else if (this.exited) {
          cleanup();
          reject(new Error(`process exited (code ${this.exitCode}, signal ${this.exitSignal}) before ${what}\n${this.describe()}`));
        }
      };
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.waiters.delete(check);
      };
      timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The command, its last stdout lines and its stderr, for error messages. */
  describe(maxLines = 40): string {
    const tail = this.lines.slice(-maxLines);
    return (
      `command: ${this.argv.join(' ')}\n` +
      `stdout (last ${tail.length} of ${this.lines.length} lines):\n${tail.map((l) => `  ${l}`).join('\n')}\n` +
      `stderr:\n${this.stderr
        .trimEnd()
        .split('\n')
        .slice(-maxLines)
        .map((l) => `  ${l}`)
        .join('\n')}`
    );
  }

  write(text: string): void {
    this.child.stdin?.write(text);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.exited) {
      try {
        this.child.kill(signal);
      } catch {
        // already gone
      }
    }
  }

  /** Sends `signal`, waits up to graceMs for the exit, then SIGKILLs. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exited) return { code: this.exitCode, signal: this.exitSignal };
    this.kill(signal);
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([this.done, timer])) === 'timeout') {
      this.kill('SIGKILL');
    }
    return this.done;
  }

  /** Waits for the exit, up to timeoutMs; null if it has not exited by then. */
  async waitExit(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
    const timer = new Promise<null>((r) => setTimeout(() => r(null), timeoutMs).unref());
    return Promise.race([this.done, timer]);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
