/**
 * Turning the benchmark's measurements into text: percentiles, a plain-text table for the terminal,
 * the same table in Markdown, and the dated entry `npm run bench` adds to bench/README.md.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** Nearest-rank percentile (p in 0..100) of the values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** A number for a table cell: a dash for nothing, fewer decimals as it grows. */
export function fmt(n: number | undefined, decimals = 1): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(decimals);
}

/** "0.42x": how `mine` compares to `anchor` (below 1: smaller than the anchor's). */
export function ratio(mine: number | undefined, anchor: number | undefined): string {
  if (mine === undefined || anchor === undefined || !Number.isFinite(mine) || !Number.isFinite(anchor) || anchor === 0) return '-';
  return `${(mine / anchor).toFixed(2)}x`;
}

export type Table = readonly (readonly string[])[];

/** Columns padded to their widest cell; numbers (anything starting with a digit or dash) right-aligned. */
export function textTable(header: readonly string[], rows: Table): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (c > 0 && /^[-\d]/.test(cell) ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable(header: readonly string[], rows: Table): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, c) => (c === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

const START = '<!-- results: npm run bench adds an entry below this line -->';

/** Inserts `entry` at the top of the results section of `file` (older entries stay below it). */
export function addResults(file: string, entry: string): void {
  const text = readFileSync(file, 'utf8');
  const at = text.indexOf(START);
  if (at < 0) throw new Error(`${file}: no "${START}" marker`);
  const cut = at + START.length;
  writeFileSync(file, `${text.slice(0, cut)}\n\n${entry.trim()}\n${text.slice(cut)}`);
}
