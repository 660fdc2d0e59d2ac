/**
 * The keys a server knows, found by the key id in a packet's header (docs/protocol.md §4, step 2).
 * Lookup reads the id in place and allocates nothing, so unknown ids are rejected at wire speed.
 * @module
 */
import { hmac, type _HMAC } from '@noble/hashes/hmac.js';
import { sha256, type _SHA256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { IdIndex } from './id-index.js';
import { deriveKeys, type UserKey } from './keys.js';

export interface KeyringEntry {
  readonly user: string;
  readonly keyId: Uint8Array;
  readonly keyIdHex: string;
  /** The server the key file says it is bound to. */
  readonly serverId: string;
  readonly encKey: Uint8Array;
  /** HMAC state keyed once with the MAC key; cloned per packet. */
  readonly mac: _HMAC<_SHA256>;
}

export class Keyring {
  private readonly index = new IdIndex<KeyringEntry>((entry) => entry.keyId);

  /** Adds a key; throws if another key already has its id. */
  add(key: UserKey): KeyringEntry {
    if (this.find(key.keyId, 0) !== undefined)
      throw new Error(`key id ${bytesToHex(key.keyId)} (user ${key.user}) is already in use by another key`);
    const { encKey, macKey } = deriveKeys(key.secret);
    const entry: KeyringEntry = {
      user: key.user,
      keyId: key.keyId.slice(),
      keyIdHex: bytesToHex(key.keyId),
      serverId: key.serverId,
      encKey,
      mac: hmac.create(sha256, macKey),
    };
    macKey.fill(0);
    this.index.add(entry);
    return entry;
  }

  /** The entry whose key id is bytes[at..at+8), or undefined. */
  find(bytes: Uint8Array, at: number): KeyringEntry | undefined {
    return this.index.find(bytes, at);
  }

  entries(): IterableIterator<KeyringEntry> {
    return this.index.entries();
  }
}
