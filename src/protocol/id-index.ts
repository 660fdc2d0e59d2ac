/**
 * Entries found by an 8-byte id read in place from a packet (a key id, an SSH candidate id): a map
 * on the id's first 4 bytes, then the other 4 compared. A lookup allocates nothing, so unknown ids
 * are rejected at wire speed. The ids are public (they travel in clear): no constant time needed.
 * @module
 */
import { KEY_ID_SIZE } from './constants.js';

/** The ids' size in bytes: the v1 key id's, which the SSH candidate id shares (same offset, same size). */
export const INDEXED_ID_SIZE = KEY_ID_SIZE;

function readU32(bytes: Uint8Array, at: number): number {
  return (
    (((bytes[at] as number) << 24) | ((bytes[at + 1] as number) << 16) | ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number)) >>> 0
  );
}

export class IdIndex<T> {
  readonly #byPrefix = new Map<number, T[]>();
  readonly #idOf: (entry: T) => Uint8Array;
  #count = 0;

  constructor(idOf: (entry: T) => Uint8Array) {
    this.#idOf = idOf;
  }

  /** Adds an entry; the caller checks first that its id is not taken ({@link find}). */
  add(entry: T): void {
    const prefix = readU32(this.#idOf(entry), 0);
    const bucket = this.#byPrefix.get(prefix);
    if (bucket === undefined) this.#byPrefix.set(prefix, [entry]);
    else bucket.push(entry);
    this.#count++;
  }

  /** The entry whose id is bytes[at..at+8), or undefined (also when the bytes end before). */
  find(bytes: Uint8Array, at: number): T | undefined {
    if (bytes.length < at + INDEXED_ID_SIZE) return undefined;
    const bucket = this.#byPrefix.get(readU32(bytes, at));
    if (bucket === undefined) return undefined;
    for (const entry of bucket) {
      const id = this.#idOf(entry);
      let same = true;
      for (let i = 4; i < INDEXED_ID_SIZE; i++) if (id[i] !== bytes[at + i]) same = false;
      if (same) return entry;
    }
    return undefined;
  }

  get size(): number {
    return this.#count;
  }

  *entries(): IterableIterator<T> {
    for (const bucket of this.#byPrefix.values()) yield* bucket;
  }
}
