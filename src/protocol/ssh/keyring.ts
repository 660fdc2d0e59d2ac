/**
 * The SSH keys a server accepts, found by candidate id (docs/protocol.md §9.4 step 2): one hash
 * lookup that reads the id in place and allocates nothing.
 * @module
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { IdIndex } from '../id-index.js';
import { SSH_OFF_SIGNATURE } from './constants.js';
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

export class SshKeyring {
  private readonly index = new IdIndex<SshKeyringEntry>((entry) => entry.candidate);

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
    this.index.add(entry);
    return entry;
  }

  find(bytes: Uint8Array, at: number): SshKeyringEntry | undefined {
    return this.index.find(bytes, at);
  }

  get size(): number {
    return this.index.size;
  }

  entries(): IterableIterator<SshKeyringEntry> {
    return this.index.entries();
  }
}
