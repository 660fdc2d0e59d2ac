/**
 * A module resolve hook that prints every file the process loads to stderr ("LOAD file:///..."),
 * for tests of what the client's import graph contains. Registered by load-trace.ts.
 * @module
 */
import { writeSync } from 'node:fs';

interface ResolveResult {
  url: string;
}
type NextResolve = (specifier: string, context: unknown) => Promise<ResolveResult>;

export async function resolve(specifier: string, context: unknown, next: NextResolve): Promise<ResolveResult> {
  const result = await next(specifier, context);
  // fs.writeSync: the hooks run on their own thread, whose process.stderr is passed on to the main
  // thread asynchronously, and lost if the process exits first (Node 24 and later).
  if (result.url.startsWith('file:')) writeSync(2, `LOAD ${result.url}\n`);
  return result;
}
