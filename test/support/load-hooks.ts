/**
 * Module customization hooks (node:module register) used by record-loads.ts: report every module
 * loaded, on stderr, then load it as usual.
 * @module
 */
export async function load(url: string, context: unknown, next: (url: string, context: unknown) => Promise<unknown>): Promise<unknown> {
  process.stderr.write(`LOADED ${url}\n`);
  return next(url, context);
}
