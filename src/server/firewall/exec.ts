/**
 * Runs a firewall tool with an argument array (spawn, never a shell), feeding it a script on stdin
 * (`nft -f -`, `iptables-restore`). A tool can be started before its input is known
 * ({@link startTool}): it then waits on stdin (see warm-tool.ts). A bare name is run from the system
 * directories with a minimal environment (tool-path.ts).
 * @module
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { FirewallError } from './firewall.js';
import { SYSTEM_DIRS, TOOL_ENV, toolPath } from './tool-path.js';

const TIMEOUT_MS = 30_000;
/** Listings of 10,000 grants run to a few MB. */
const MAX_OUTPUT = 64 * 1024 * 1024;

export interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** A started tool, waiting for its input. */
export interface StartedTool {
  /** True once the process is gone (or could not start): feeding it would only report that. */
  readonly exited: boolean;
  /** Writes `input`, closes stdin and resolves with the output on exit 0; FirewallError otherwise. */
  feed(input: string): Promise<ToolResult>;
  /** Ends a tool that will not be fed (it has read nothing, so it does nothing). */
  kill(): void;
}

/** A tool that could not be started: feeding it reports why. */
function failedTool(argv: readonly string[], message: string, code: string | null): StartedTool {
  return { exited: true, feed: () => Promise.reject(new FirewallError(argv, message, code)), kill: () => {} };
}

/** Starts argv with stdin, stdout and stderr piped; it does not keep the daemon alive until fed. Never throws. */
export function startTool(argv: readonly string[]): StartedTool {
  const [name, ...args] = argv;
  if (name === undefined) return failedTool(argv, 'empty argv', null);
  // An absolute path from the system directories, never the inherited PATH (tool-path.ts).
  const file = toolPath(name);
  if (file === undefined) return failedTool(argv, `${name} not found in ${SYSTEM_DIRS.join(', ')}`, 'ENOENT');
  let child: ChildProcessWithoutNullStreams;
  try {
    child = spawn(file, args, { env: { ...TOOL_ENV }, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    return failedTool(argv, (e as Error).message, (e as NodeJS.ErrnoException).code ?? null);
  }
  let failure: { message: string; code: string | number | null } | undefined;
  let exited = false;
  // Only a started, unreaped child: for one that never started (EMFILE) Node signals pid 0, which is
  // our whole process group (seen here: it killed the test runner).
  const sendSignal = (name: NodeJS.Signals): void => {
    if (!exited && child.pid !== undefined) child.kill(name);
  };
  // First thing: an unheard 'error' (EMFILE, ENOENT, a failed kill) would end the daemon.
  child.on('error', (e: NodeJS.ErrnoException) => {
    exited = true;
    failure ??= { message: e.message, code: e.code ?? null };
  });
  // Out of file descriptors, Node gives no pipes (undefined, whatever the types say) and emits EMFILE as above.
  // No kill here: a child that never started has no pid, and signalling "no pid" must not happen.
  if ([child.stdin, child.stdout, child.stderr].some((pipe) => (pipe as unknown) == null)) {
    return failedTool(argv, 'cannot start: no pipes (out of file descriptors?)', 'EMFILE');
  }
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let size = 0;
  const collect =
    (into: Buffer[]) =>
    (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_OUTPUT) {
        failure ??= { message: `more than ${MAX_OUTPUT} bytes of output`, code: 'MAXBUFFER' };
        sendSignal('SIGKILL');
      } else into.push(chunk);
    };
  child.stdout.on('data', collect(out));
  child.stderr.on('data', collect(err));
  // A tool that exits before reading its input closes the pipe: the exit code tells what went wrong.
  child.stdin.on('error', () => {});
  const done = new Promise<ToolResult>((resolvePromise, reject) => {
    child.once('exit', () => (exited = true));
    child.once('close', (code, signal) => {
      exited = true;
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (failure === undefined && code === 0) resolvePromise({ stdout, stderr });
      else {
        const why =
          [failure?.message, stderr.trim()].filter((w) => w !== undefined && w !== '').join(': ') || `exited with ${code ?? signal}`;
        reject(new FirewallError(argv, why, failure?.code ?? code ?? signal ?? null));
      }
    });
  });
  done.catch(() => {}); // a killed spare's rejection is nobody's business
  // The pipes are sockets: unref'd, an idle tool does not hold the event loop open.
  const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as { ref(): void; unref(): void }[];
  for (const h of handles) h.unref();
  return {
    get exited() {
      return exited;
    },
    feed(input: string): Promise<ToolResult> {
      for (const h of handles) h.ref();
      const timer = setTimeout(() => {
        failure ??= { message: `timed out after ${TIMEOUT_MS / 1000} s`, code: 'SIGTERM' };
        sendSignal('SIGTERM');
      }, TIMEOUT_MS);
      child.stdin.end(input);
      return done.finally(() => clearTimeout(timer));
    },
    kill(): void {
      sendSignal('SIGTERM');
    },
  };
}

export function runTool(argv: readonly string[], input?: string): Promise<ToolResult> {
  return startTool(argv).feed(input ?? '');
}

/** Runs argv; resolves true on exit 0, false on exit 1 (the tools' "no such rule"), throws otherwise. */
export async function probeTool(argv: readonly string[]): Promise<boolean> {
  try {
    await runTool(argv);
    return true;
  } catch (err) {
    if (err instanceof FirewallError && err.exitCode === 1) return false;
    throw err;
  }
}
