/**
 * One daemon per state directory: a pid file made with O_EXCL (`wx`). A second daemon finds it,
 * sees that the pid in it is alive, and stops before it touches the firewall. A file left by a
 * daemon that died (its pid no longer runs) is stale and taken over. Public Node APIs only:
 * no flock, so a pid reused by an unrelated process after a crash keeps the lock until the file
 * is removed; the message names the pid and the file.
 * @module
 */
import { openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export const PID_FILE = 'knockspa.pid';

export class LockedError extends Error {
  constructor(
    readonly pid: number,
    readonly file: string,
  ) {
    super(
      `another knockspa daemon (pid ${pid}) uses this state_dir (${file}); this one changed nothing. Stop it first (systemctl stop knockspa, or kill ${pid}), or remove ${file} if pid ${pid} is not knockspa`,
    );
    this.name = 'LockedError';
  }
}

/** True if a process with this pid runs (EPERM: it runs, as another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export class PidLock {
  private constructor(readonly file: string) {}

  /** Takes the lock in `dir`; throws LockedError naming the holder's pid. */
  static acquire(dir: string): PidLock {
    const file = join(dir, PID_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o600);
        try {
          writeSync(fd, `${process.pid}\n`);
        } finally {
          closeSync(fd);
        }
        return new PidLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const pid = readPid(file);
      if (pid !== undefined && pid !== process.pid && alive(pid)) throw new LockedError(pid, file);
      rmSync(file, { force: true }); // stale: its daemon is gone
    }
    throw new LockedError(readPid(file) ?? 0, file);
  }

  /** Removes the file if it is still ours. */
  release(): void {
    if (readPid(this.file) === process.pid) rmSync(this.file, { force: true });
  }
}
