/**
 * The daemon's persistent state (state_dir/state.json): the replay cache and the open grants,
 * mode 0600, coalesced: saves asked for together make one write.
 *
 * A save resolves once the kernel has the new text, which a crash of the daemon cannot undo. It is
 * not fsync'd (that costs a knock ms to tens of ms here): only a crash of the whole machine can
 * lose it, and after one the firewall's grants are gone or listed by the daemon, and a replay
 * cache written in an earlier boot is not trusted (the file records its boot; src/server/daemon.ts).
 * For the same reason the file is rewritten in place from offset 0 (one write up to 1 MiB),
 * padded with spaces to its old length so that it is always one JSON text: no new file and no
 * rename (~1 ms a save on ext4 here). A daemon killed in the middle of a save longer than a page
 * can leave it torn; it then reads as corrupt, which is the safe case (packets made before the
 * next start are refused; grants come from the firewall).
 *
 * With `durable` (the command backend, whose rules may outlive a reboot and cannot be listed, and
 * wherever there is no boot id to tell an old file by) each save is a new file, fsync'd, renamed
 * over the old one, and the directory fsync'd: atomic and on disk before the save resolves.
 * @module
 */
import { closeSync, constants, fchmodSync, fsyncSync, ftruncateSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplayState } from '../../protocol/replay.js';
import type { Proto } from '../../protocol/ports.js';

export const STATE_VERSION = 1;
/** In-place saves go through one buffer of this size, kept: a fresh one each save cost page faults on the knock's path. */
const WRITE_BUFFER_BYTES = 1024 * 1024;
/** The text is encoded in slices of this many UTF-16 units (3 UTF-8 bytes at most each: a slice fits the buffer). */
export const SLICE_UNITS = Math.floor(WRITE_BUFFER_BYTES / 3);
/** Padding beyond this (and beyond the text's own length) is cut off. */
const SHRINK_SLACK = 64 * 1024;

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
  /** The state file, kept open for writing in place (not durable). */
  private fd: number | undefined;
  private size = 0;
  private buffer: Buffer | undefined;

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
   * and thread-pool round trips cost a knock more than the write itself.
   */
  private write(text: string): void {
    if (this.opts.durable === true) this.replace(text);
    else this.rewrite(text);
  }

  /** In place: pad to the old length (JSON allows trailing spaces), shrink only when much shorter. */
  private rewrite(text: string): void {
    if (this.fd === undefined) {
      this.fd = openSync(this.file, constants.O_RDWR | constants.O_CREAT, 0o600);
      fchmodSync(this.fd, 0o600);
      this.size = fstatSync(this.fd).size;
    }
    const length = Buffer.byteLength(text, 'utf8');
    const total = Math.max(length, this.size);
    this.size = total; // first: after a write that failed part way, later saves still pad over all of it
    writeAt(this.fd, (this.buffer ??= Buffer.allocUnsafe(WRITE_BUFFER_BYTES)), text, total);
    if (this.size > 2 * length + SHRINK_SLACK) {
      ftruncateSync(this.fd, length);
      this.size = length;
    }
  }

  /** A new file, fsync'd, renamed over the old one, and the directory fsync'd. */
  private replace(text: string): void {
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeFileSync(fd, text, 'utf8');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    // The rename itself is durable only once the directory is.
    fsyncDirectory(this.dir);
  }

  /** Closes the file kept open for writing in place (daemon stop). */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Writes `text` at offset 0 of `fd` through `buffer`, then spaces up to `total` bytes: a small
 * state in one write, a large one (a replay cache near its cap) slice by slice, so that a save
 * never holds a second copy of the whole text.
 */
function writeAt(fd: number, buffer: Buffer, text: string, total: number): void {
  let position = 0; // the file offset of buffer[0]
  let filled = 0;
  const flush = (): void => {
    for (let done = 0; done < filled; ) done += writeSync(fd, buffer, done, filled - done, position + done);
    position += filled;
    filled = 0;
  };
  for (let i = 0; i < text.length; ) {
    let end = Math.min(text.length, i + SLICE_UNITS);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--; // a surrogate pair stays whole
    flush();
    filled = buffer.write(text.slice(i, end), 0, 'utf8');
    i = end;
  }
  while (position + filled < total) {
    if (filled === buffer.length) flush();
    const n = Math.min(buffer.length - filled, total - position - filled);
    buffer.fill(0x20, filled, filled + n);
    filled += n;
  }
  flush();
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
