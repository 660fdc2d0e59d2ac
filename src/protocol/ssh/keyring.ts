/**
 * The SSH keys a server accepts, found by candidate id (docs/protocol.md §9.4 step 2): one hash
 * lookup that reads the id in place and allocates nothing.
 * @module
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { CANDIDATE_ID_SIZE, SSH_OFF_SIGNATURE } from './constants.js';
import { candidateId } from './keys.js';
import type { SshPublicKey } from './public-key.js';
import { compactSignatureSize } from './signature.js';

export interface SshKeyringEntry {
  readonly user: string;
  readonly key: SshPublicKey;
  readonly candidate: Uint8Array;
  readonly candidateHex: string;
  /** Every packet made with this key has exactly this length. */
  readonly packetSize: number;
  /** Security keys: refuse signatures without the user-presence flag. */
  readonly requireTouch: boolean;
}

const readU32 = (b: Uint8Array, at: number): number =>
  (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;

export class SshKeyring {
  private readonly byPrefix = new Map<number, SshKeyringEntry[]>();
  private count = 0;

  constructor(readonly serverPublic: Uint8Array) {}

  /** Adds a user's key; throws if the key (or its candidate id) is already there. */
  add(user: string, key: SshPublicKey, requireTouch = true): SshKeyringEntry {
    const candidate = candidateId(this.serverPublic, key.blob);
    const twin = this.find(candidate, 0);
    if (twin !== undefined) throw new Error(`key ${key.fingerprint} of user ${user} is already the key of user ${twin.user}`);
    const entry: SshKeyringEntry = {
      user,
      key,
      candidate,
      candidateHex: bytesToHex(candidate),
      packetSize: SSH_OFF_SIGNATURE + compactSignatureSize(key),
      requireTouch,
    };
    const prefix = readU32(candidate, 0);
    const bucket = this.byPrefix.get(prefix);
    if (bucket === undefined) this.byPrefix.set(prefix, [entry]);
    else bucket.push(entry);
    this.count++;
    return entry;
  }

  find(bytes: Uint8Array, at: number): SshKeyringEntry | undefined {
    if (bytes.length < at + CANDIDATE_ID_SIZE) return undefined;
    const bucket = this.byPrefix.get(readU32(bytes, at));
    if (bucket === undefined) return undefined;
    for (const entry of bucket) {
      let same = true;
      for (let i = 4; i < CANDIDATE_ID_SIZE; i++) if (entry.candidate[i] !== bytes[at + i]) same = false;
      if (same) return entry;
    }
    return undefined;
  }

  get size(): number {
    return this.count;
  }

  *entries(): IterableIterator<SshKeyringEntry> {
    for (const bucket of this.byPrefix.values()) yield* bucket;
  }
}
