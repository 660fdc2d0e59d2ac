/**
 * The daemon's persistent state (state_dir/state.json): the replay cache and the open grants,
 * mode 0600, written by the applier before a knock takes effect (src/server/grants/applier.ts).
 *
 * A save returns once the kernel has the new text, which a crash of the daemon cannot undo. It is
 * not fsync'd (an fsync would cost every knock more than the rest of its path: bench/README.md):
 * only a crash of the whole machine can lose it, and after one the firewall's grants are gone or
 * listed by the daemon, and a replay cache written in an earlier boot is not trusted (the file
 * records its boot; src/server/daemon.ts). For the same reason the file is rewritten in place
 * from offset 0, padded with spaces to its old length. A daemon killed in the middle of a save can
 * leave it torn, so the text carries the SHA-256 of the state it frames: a torn file fails that
 * check and reads as corrupt, the safe case (the daemon then refuses packets made before its
 * start plus the skew window; grants come from the firewall).
 *
 * With `durable` (the command backend, whose rules may outlive a reboot and cannot be listed, and
 * wherever there is no boot id to tell an old file by) each save is a new file, fsync'd, renamed
 * over the old one, and the directory fsync'd: atomic and on disk before the save returns.
 *
 * The directory must be the daemon's own and writable by no one else; files are opened without
 * following links, and only a regular file of the daemon's is read (own-files.ts).
 * @module
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { canonicalIp } from '../../protocol/address.js';
import { USER_NAME } from '../../protocol/keys.js';
import type { ReplayState } from '../../protocol/replay.js';
import type { Proto } from '../../protocol/ports.js';
import { FileRefused, readOwnFile, requireOwnDirectory } from '../own-files.js';

export const STATE_VERSION = 2;
/** The text frames the state: `{"sha256":"HEX","state":STATE}` then spaces. */
const FRAME_START = '{"sha256":"';
const FRAME_MIDDLE = '","state":';
const HASH_HEX = 64;
/** Larger than any state a replay cache at its cap writes. */
const MAX_STATE_BYTES = 2 ** 31 - 1;
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
  /** The skew window every replay cache entry is kept for at least (max_skew). */
  readonly maxSkewMs: number;
  /** Packets stamped before this are refused: the cache cannot vouch for them (replay-window.ts). */
  readonly notBeforeMs: number;
}

export interface StateStoreOptions {
  /** fsync before the file replaces the old one (so before a save resolves). */
  readonly durable?: boolean;
}

export type LoadResult = { kind: 'missing' } | { kind: 'ok'; state: DaemonState } | { kind: 'corrupt'; error: string; movedTo: string };

/** A record the daemon could have written: a user name, a canonical address of its family, a port, a time. */
function isGrantRecord(g: unknown): g is GrantRecord {
  const r = g as Partial<GrantRecord> | null;
  if (typeof r !== 'object' || r === null || typeof r.user !== 'string' || !USER_NAME.test(r.user)) return false;
  if (
    typeof r.ip !== 'string' ||
    canonicalIp(r.ip) !== r.ip ||
    (r.family === 6) !== r.ip.includes(':') ||
    (r.family !== 4 && r.family !== 6)
  )
    return false;
  return (
    (r.proto === 'tcp' || r.proto === 'udp') &&
    Number.isInteger(r.port) &&
    (r.port as number) >= 1 &&
    (r.port as number) <= 65535 &&
    Number.isSafeInteger(r.deadlineMs)
  );
}

export class StateStore {
  readonly file: string;
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

  /** Creates the directory (0700) if needed; throws if it cannot, or if it is not the daemon's own (FileRefused). */
  prepare(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    requireOwnDirectory(this.dir);
  }

  /**
   * Reads the state; a corrupt file (torn, unparsable, a record no daemon writes, an old version)
   * is moved aside (kept as evidence) unless `readOnly`. A file that is not the daemon's own
   * regular file throws FileRefused.
   */
  load(readOnly = false): LoadResult {
    let text: string;
    try {
      text = readOwnFile(this.file, { maxBytes: MAX_STATE_BYTES });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { kind: 'missing' };
      if (code === 'ELOOP') throw new FileRefused(`${this.file} is a symbolic link; remove it`);
      throw err;
    }
    try {
      return { kind: 'ok', state: parseState(text) };
    } catch (err) {
      // Keep the evidence; the daemon starts without it (and refuses packets older than its start).
      const movedTo = readOnly ? this.file : `${this.file}.corrupt-${Date.now()}`;
      if (!readOnly) renameSync(this.file, movedTo);
      return { kind: 'corrupt', error: (err as Error).message, movedTo };
    }
  }

  /**
   * Saves the state; throws if it cannot. Synchronous on purpose: the file is small (it is built
   * by a synchronous JSON.stringify anyway), and thread-pool round trips cost a knock more than the
   * write itself.
   */
  save(state: DaemonState): void {
    const text = frame(JSON.stringify(state));
    if (this.opts.durable === true) this.replace(text);
    else this.rewrite(text);
  }

  /** In place: pad to the old length (JSON allows trailing spaces), shrink only when much shorter. */
  private rewrite(text: string): void {
    if (this.fd === undefined) {
      const fd = openSync(this.file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
      const st = fstatSync(fd);
      if (!st.isFile()) {
        closeSync(fd);
        throw new FileRefused(`${this.file} is not a regular file; remove it`);
      }
      fchmodSync(fd, 0o600);
      this.fd = fd;
      this.size = st.size;
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
    // A leftover (or planted) name goes first; the new file is created, never opened through a link.
    try {
      unlinkSync(tmp);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
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

  /**
   * After a failed save the file is behind the daemon's replay cache: a start must not trust it. One
   * byte at offset 0 spoils it in place (no new space needed, unlike a save), so it reads as corrupt,
   * that is lost, until a later save succeeds. Best effort: the save's own error is what is reported.
   */
  invalidate(): void {
    try {
      const fd = this.fd ?? openSync(this.file, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        writeSync(fd, '!', 0);
        fsyncSync(fd);
      } finally {
        if (fd !== this.fd) closeSync(fd);
      }
    } catch {
      // No file (nothing to trust anyway), or no way to write it at all.
    }
  }

  /** Closes the file kept open for writing in place (daemon stop). */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The file's text for a state's JSON text: framed with its SHA-256. */
export function frame(stateText: string): string {
  return `${FRAME_START}${sha256Hex(stateText)}${FRAME_MIDDLE}${stateText}}`;
}

/** The state a file's text frames; throws if the frame, its hash or the state is not right. */
export function parseState(text: string): DaemonState {
  const end = text.trimEnd().length - 1;
  const start = FRAME_START.length + HASH_HEX + FRAME_MIDDLE.length;
  if (
    !text.startsWith(FRAME_START) ||
    text.slice(FRAME_START.length + HASH_HEX, start) !== FRAME_MIDDLE ||
    text[end] !== '}' ||
    end < start
  )
    throw new Error(`expected a state file of version ${STATE_VERSION} ({"sha256": ..., "state": ...})`);
  const inner = text.slice(start, end);
  if (sha256Hex(inner) !== text.slice(FRAME_START.length, FRAME_START.length + HASH_HEX))
    throw new Error('checksum mismatch: a torn or altered file');
  const doc = JSON.parse(inner) as Partial<DaemonState>;
  if (
    doc.version !== STATE_VERSION ||
    typeof doc.replay !== 'object' ||
    !Array.isArray(doc.grants) ||
    !doc.grants.every(isGrantRecord) ||
    (doc.bootId !== undefined && typeof doc.bootId !== 'string') ||
    !Number.isSafeInteger(doc.maxSkewMs) ||
    (doc.maxSkewMs as number) < 0 ||
    !Number.isSafeInteger(doc.notBeforeMs)
  )
    throw new Error(`expected {"version": ${STATE_VERSION}, "replay": {...}, "grants": [...], "maxSkewMs": N, "notBeforeMs": N}`);
  return doc as DaemonState;
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
    for (let done = 0; done < filled;) done += writeSync(fd, buffer, done, filled - done, position + done);
    position += filled;
    filled = 0;
  };
  for (let i = 0; i < text.length;) {
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
