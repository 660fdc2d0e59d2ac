/**
 * Runs a firewall tool with an argument array (execFile, never a shell).
 * @module
 */
import { execFile } from 'node:child_process';
import { FirewallError } from './firewall.js';

const TIMEOUT_MS = 10_000;

export interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
}

export function runTool(argv: readonly string[]): Promise<ToolResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('runTool: empty argv'));
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { timeout: TIMEOUT_MS, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err === null) resolvePromise({ stdout, stderr });
      else reject(new FirewallError(argv, stderr || err.message, err.code ?? err.signal ?? null));
    });
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
