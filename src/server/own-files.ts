/**
 * Files and directories the daemon trusts only if they are its own, as OpenSSH treats its keys:
 * a regular file (a link, FIFO or device is refused, and opening never blocks or follows a link),
 * owned by the daemon's user, not writable (for secrets: not readable) by others, and not larger
 * than such a file can be. Each refusal says what is wrong and the fix.
 * @module
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';

export class FileRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileRefused';
  }
}

export interface OwnFileRules {
  /** Refuse a file others (group or world) can read: it holds a secret. */
  readonly secret?: boolean;
  readonly maxBytes: number;
}

const modeText = (mode: number): string => (mode & 0o7777).toString(8).padStart(3, '0');

function uid(): number | undefined {
  return typeof process.geteuid === 'function' ? process.geteuid() : undefined;
}

/** What is wrong with a file or directory, and the fix. */
export interface Problem {
  readonly what: string;
  readonly fix: string;
}

const said = (p: Problem): string => `${p.what}; ${p.fix}`;

/** Why `st` is not the daemon's own, or null. */
function notOwn(path: string, st: Stats): Problem | null {
  const me = uid();
  if (me !== undefined && st.uid !== me)
    return { what: `${path} is owned by uid ${st.uid}, not by the daemon's user (uid ${me})`, fix: `run: chown ${me} ${path}` };
  if ((st.mode & 0o022) !== 0)
    return { what: `${path} has mode ${modeText(st.mode)}, which lets others change it`, fix: `run: chmod go-w ${path}` };
  return null;
}

/** Reads a file that must be the daemon's own regular file; throws FileRefused (or the errno error: ENOENT, ELOOP). */
export function readOwnFile(path: string, rules: OwnFileRules): string {
  // O_NONBLOCK: a FIFO planted under the name must not hang the daemon in open().
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileRefused(`${path} is not a regular file; remove it`);
    if (rules.secret === true && (st.mode & 0o077) !== 0)
      throw new FileRefused(`${path} has mode ${modeText(st.mode)}, which lets others read the secret; run: chmod 600 ${path}`);
    const problem = notOwn(path, st);
    if (problem !== null) throw new FileRefused(said(problem));
    if (st.size > rules.maxBytes) throw new FileRefused(`${path} is ${st.size} bytes; such a file is at most ${rules.maxBytes}`);
    const buffer = Buffer.alloc(st.size);
    let filled = 0;
    while (filled < buffer.length) {
      const n = readSync(fd, buffer, filled, buffer.length - filled, filled);
      if (n === 0) break;
      filled += n;
    }
    return buffer.toString('utf8', 0, filled);
  } finally {
    closeSync(fd);
  }
}

/** Why `dir` may not hold the daemon's state (a link, not a directory, not its own, writable by others), or null. */
export function ownDirectoryProblem(dir: string): Problem | null {
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) return { what: `${dir} is a symbolic link`, fix: 'name the real directory' };
  if (!st.isDirectory()) return { what: `${dir} is not a directory`, fix: 'name a directory' };
  return notOwn(dir, st);
}

/** Throws FileRefused unless `dir` is the daemon's own directory. */
export function requireOwnDirectory(dir: string): void {
  const problem = ownDirectoryProblem(dir);
  if (problem !== null) throw new FileRefused(said(problem));
}
