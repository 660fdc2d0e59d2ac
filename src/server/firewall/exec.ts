/**
 * Runs a firewall tool with an argument array (execFile, never a shell), optionally feeding it
 * a script on stdin (`nft -f -`, `iptables-restore`).
 * @module
 */
import { execFile } from 'node:child_process';
import { FirewallError } from './firewall.js';

const TIMEOUT_MS = 30_000;
/** Listings of 10,000 grants run to a few MB. */
const MAX_OUTPUT = 64 * 1024 * 1024;

export interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
}

export function runTool(argv: readonly string[], input?: string): Promise<ToolResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('runTool: empty argv'));
  return new Promise((resolvePromise, reject) => {
    const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
    const child = execFile(file, args, { timeout: TIMEOUT_MS, maxBuffer: MAX_OUTPUT, encoding: 'utf8', env }, (err, stdout, stderr) => {
      if (err === null) resolvePromise({ stdout, stderr });
      else reject(new FirewallError(argv, stderr || err.message, err.code ?? err.signal ?? null));
    });
    // A tool that exits before reading its input closes the pipe: the exit code tells what went wrong.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
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
