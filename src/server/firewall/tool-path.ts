/**
 * Where the firewall tools are: looked up once, by name, in the system directories only, never
 * through the PATH the daemon inherited (a directory of someone else's early in it would run
 * their `iptables-restore` as root). Tools run with {@link TOOL_ENV} and nothing else inherited.
 * @module
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';

export const SYSTEM_DIRS: readonly string[] = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
/** The whole environment of a tool: C messages (parsed by the backends), and the system directories for what it runs. */
export const TOOL_ENV: Readonly<Record<string, string>> = { PATH: SYSTEM_DIRS.join(':'), LC_ALL: 'C' };
/** The tools the built-in backends run, resolved (and logged) at start. */
export const FIREWALL_TOOLS: readonly string[] = ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'nft'];

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `dir/name` that is an executable file, or undefined; a name with a slash is not looked up. */
export function findTool(
  name: string,
  dirs: readonly string[] = SYSTEM_DIRS,
  isExecutable: (path: string) => boolean = isExecutableFile,
): string | undefined {
  if (name === '' || name.includes('/')) return undefined;
  for (const dir of dirs) {
    const path = join(dir, name);
    if (isExecutable(path)) return path;
  }
  return undefined;
}

const resolved = new Map<string, string>();

/** The absolute path to run for `file`: itself if it has a slash, else its system path (found once, then kept); undefined if there is none. */
export function toolPath(file: string): string | undefined {
  if (file.includes('/')) return file;
  let path = resolved.get(file);
  if (path === undefined) {
    path = findTool(file);
    if (path !== undefined) resolved.set(file, path);
  }
  return path;
}

/** Resolves `names` now (daemon start) and returns those found, name -> path, for the start log. */
export function resolveTools(names: readonly string[] = FIREWALL_TOOLS): Record<string, string> {
  const found: Record<string, string> = {};
  for (const name of names) {
    const path = toolPath(name);
    if (path !== undefined) found[name] = path;
  }
  return found;
}
