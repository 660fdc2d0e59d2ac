/**
 * The daemon's persistent state (state_dir/state.json): the replay cache and the open grants.
 * Written atomically (temp file, fsync, rename), mode 0600, and coalesced: a save requested while
 * one is being written is folded into the next write.
 * @module
 */
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
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
  private writing: Promise<void> | null = null;
  private pending: (() => DaemonState) | null = null;

  constructor(readonly dir: string) {
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
      if (doc.version !== STATE_VERSION || typeof doc.replay !== 'object' || !Array.isArray(doc.grants) || !doc.grants.every(isGrantRecord))
        throw new Error(`expected {"version": ${STATE_VERSION}, "replay": {...}, "grants": [...]}`);
      return { kind: 'ok', state: doc as DaemonState };
    } catch (err) {
      // Keep the evidence; the daemon starts without it (and refuses packets older than its start).
      const movedTo = readOnly ? this.file : `${this.file}.corrupt-${Date.now()}`;
      if (!readOnly) renameSync(this.file, movedTo);
      return { kind: 'corrupt', error: (err as Error).message, movedTo };
    }
  }

  /** Saves the state `snapshot` returns at write time; resolves once a write that includes it is on disk. */
  save(snapshot: () => DaemonState): Promise<void> {
    this.pending = snapshot;
    // The running drain loops until nothing is pending, so it covers this request too.
    this.writing ??= this.drain();
    return this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending !== null) {
        const snapshot = this.pending;
        this.pending = null;
        await this.write(JSON.stringify(snapshot()));
      }
    } finally {
      this.writing = null;
    }
  }

  private async write(text: string): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.file);
  }
}
