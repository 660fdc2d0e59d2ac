/**
 * What `knockspa doctor` reports: one line per finding, "ok|warn|fail  what  — fix", and an exit
 * code of 0 when nothing failed, 1 otherwise.
 * @module
 */
export type Status = 'ok' | 'warn' | 'fail';

export interface Finding {
  readonly status: Status;
  readonly what: string;
  /** What to do about it; empty for ok. */
  readonly fix?: string;
}

export const ok = (what: string): Finding => ({ status: 'ok', what });
export const warn = (what: string, fix: string): Finding => ({ status: 'warn', what, fix });
export const fail = (what: string, fix: string): Finding => ({ status: 'fail', what, fix });

/** A tool's multi-line message folded: one finding is one line, always. */
const fold = (text: string): string => text.replace(/\s*\n\s*/g, ' ');

export function formatFinding(f: Finding): string {
  const line = `${f.status.padEnd(4)}  ${fold(f.what)}`;
  return f.fix === undefined || f.fix === '' ? line : `${line}  — ${fold(f.fix)}`;
}

/** Prints every finding and returns the exit code: 1 if any failed. */
export function report(findings: readonly Finding[], print: (line: string) => void): number {
  for (const f of findings) print(formatFinding(f));
  return findings.some((f) => f.status === 'fail') ? 1 : 0;
}
