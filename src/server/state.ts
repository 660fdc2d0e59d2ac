/**
 * The daemon's persistent state (state_dir/state.json): the replay cache and the open grants.
 * Written atomically (temp file, rename), mode 0600, and coalesced: saves asked for together make
 * one write.
 *
 * A save resolves once the new file has replaced the old one in the kernel, which a crash of the
 * daemon cannot undo. It is not fsync'd (that costs a knock ms to tens of ms here): only a crash
 * of the whole machine can lose it, and after one the firewall's grants are gone or listed by the
 * daemon, and a replay cache written in an earlier boot is not trusted (the file records its boot;
 * src/server/daemon.ts). With `durable` the file (and then its directory) is fsync'd: for the
 * command backend, whose rules may outlive a reboot and cannot be listed, and where there is no
 * boot id to tell an old file by.
 * @module
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplayState } from '../protocol/replay.js';
import type { Proto } from '../protocol/ports.js';

export const STATE_VERSION = 1;

export interface GrantRecord {
  readonly user: string;
  readonly ip: string;
  readonly family: 4 | 6;
  readonly proto: Proto;
  readonly port: number;
  readonly deadlineMs: number;
}

export interface DaemonState {
  readonly version: typeof STATE_VERSION;
  readonly replay: ReplayState;
  readonly grants: readonly GrantRecord[];
  /** The kernel's boot id when this was written (absent if unknown). */
  readonly bootId?: string;
}

export interface StateStoreOptions {
  /** fsync before the file replaces the old one (so before a save resolves). */
  readonly durable?: boolean;
}

export type LoadResult = { kind: 'missing' } | { kind: 'ok'; state: DaemonState } | { kind: 'corrupt'; error: string; movedTo: string };

function isGrantRecord(g: unknown): g is GrantRecord {
  const r = g as Partial<GrantRecord> | null;
  return (
    typeof r === 'object' && r !== null && typeof r.user === 'string' && typeof r.ip === 'string' &&
    (r.family === 4 || r.family === 6) && (r.proto === 'tcp' || r.proto === 'udp') &&
    Number.isInteger(r.port) && Number.isFinite(r.deadlineMs)
  );
}

export class StateStore {
  readonly file: string;
  /** The write the next save joins, until it starts. */
  private writing: Promise<void> | null = null;
  private pending: (() => DaemonState) | null = null;

  constructor(
    readonly dir: string,
    private readonly opts: StateStoreOptions = {},
  ) {
    this.file = join(dir, 'state.json');
  }

  /** Creates the directory (0700) if needed; throws if it cannot. */
  prepare(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Reads the state; a corrupt file is moved aside (kept as evidence) unless `readOnly`. */
  load(readOnly = false): LoadResult {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
      throw err;
    }
    try {
      const doc = JSON.parse(text) as Partial<DaemonState>;
      if (
        doc.version !== STATE_VERSION || typeof doc.replay !== 'object' || !Array.isArray(doc.grants) || !doc.grants.every(isGrantRecord) ||
        (doc.bootId !== undefined && typeof doc.bootId !== 'string')
      )
        throw new Error(`expected {"version": ${STATE_VERSION}, "replay": {...}, "grants": [...]}`);
      return { kind: 'ok', state: doc as DaemonState };
    } catch (err) {
      // Keep the evidence; the daemon starts without it (and refuses packets older than its start).
      const movedTo = readOnly ? this.file : `${this.file}.corrupt-${Date.now()}`;
      if (!readOnly) renameSync(this.file, movedTo);
      return { kind: 'corrupt', error: (err as Error).message, movedTo };
    }
  }

  /**
   * Saves the state `snapshot` returns at write time; resolves once a write that includes it has
   * replaced the file. Saves asked for in the same turn of the event loop make one write.
   */
  save(snapshot: () => DaemonState): Promise<void> {
    this.pending = snapshot;
    this.writing ??= Promise.resolve().then(() => {
      const latest = this.pending as () => DaemonState;
      this.writing = null;
      this.pending = null;
      this.write(JSON.stringify(latest()));
    });
    return this.writing;
  }

  /**
   * Synchronous on purpose: the file is small (it is built by a synchronous JSON.stringify anyway),
   * and four thread-pool round trips cost a knock more than the write itself (~1.5 ms vs ~0.1 ms).
   */
  private write(text: string): void {
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeFileSync(fd, text, 'utf8');
      if (this.opts.durable === true) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    // The rename itself is durable only once the directory is.
    if (this.opts.durable === true) fsyncDirectory(this.dir);
  }
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
