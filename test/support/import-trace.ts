/**
 * A module resolve hook that prints every file the process loads to stderr ("LOAD file:///..."),
 * for tests of what the client's import graph contains. Registered by load-trace.ts.
 * @module
 */
interface ResolveResult {
  url: string;
}
type NextResolve = (specifier: string, context: unknown) => Promise<ResolveResult>;

export async function resolve(specifier: string, context: unknown, next: NextResolve): Promise<ResolveResult> {
  const result = await next(specifier, context);
  if (result.url.startsWith('file:')) process.stderr.write(`LOAD ${result.url}\n`);
  return result;
}
