/**
 * The fwknop users a server knows. A fwknop packet names no key, so its user is found by trying
 * each user's HMAC key in turn (as fwknopd does with its access stanzas): the cost of a packet is
 * linear in the number of fwknop users, which is why the server caps that number and budgets the
 * trials (docs/protocol.md §8.3).
 * @module
 */
import { equalBytes } from '@noble/ciphers/utils.js';
import { hmac, type _HMAC } from '@noble/hashes/hmac.js';
import { sha256, type _SHA256 } from '@noble/hashes/sha2.js';
import { HMAC_TAG_SIZE } from './constants.js';
import type { FwknopKeys } from './keys.js';

export interface FwknopKeyringEntry {
  readonly user: string;
  readonly encKey: Uint8Array;
  /** HMAC-SHA256 state keyed once with the user's HMAC key; cloned per trial. */
  readonly mac: _HMAC<_SHA256>;
}

export class FwknopKeyring {
  private readonly list: FwknopKeyringEntry[] = [];
  /** Kept only to refuse one HMAC key for two users, which would make the user ambiguous. */
  private readonly hmacKeys: Uint8Array[] = [];
  private readonly tag = new Uint8Array(HMAC_TAG_SIZE);
  private scratch: _HMAC<_SHA256> | undefined;

  get size(): number {
    return this.list.length;
  }

  /** Adds a user's keys; throws if the user is already there or another user has the same HMAC key. */
  add(user: string, keys: FwknopKeys): FwknopKeyringEntry {
    const clash = this.hmacKeys.findIndex((k) => k.length === keys.hmacKey.length && equalBytes(k, keys.hmacKey));
    if (clash >= 0) throw new Error(`user ${user} has the same fwknop HMAC key as user ${this.list[clash]?.user ?? '?'}`);
    if (this.list.some((e) => e.user === user)) throw new Error(`user ${user} is already in the fwknop keyring`);
    const entry: FwknopKeyringEntry = { user, encKey: keys.encKey.slice(), mac: hmac.create(sha256, keys.hmacKey) };
    this.list.push(entry);
    this.hmacKeys.push(keys.hmacKey.slice());
    return entry;
  }

  /** Each user's encryption key, for the one check that needs each user's encryption key (an unsigned packet). */
  encKeys(): readonly Uint8Array[] {
    return this.list.map((e) => e.encKey);
  }

  /**
   * The user whose HMAC-SHA256 over `head` ‖ `body` equals `tag`, trying every key in turn; each
   * comparison is constant time. Stops at the first match: only the position of a valid key
   * holder's own entry could be timed, and that tells them nothing they do not know.
   */
  findByMac(tag: Uint8Array, head: Uint8Array, body: Uint8Array): FwknopKeyringEntry | undefined {
    for (const entry of this.list) {
      const mac = entry.mac._cloneInto(this.scratch);
      this.scratch = mac;
      mac.update(head);
      mac.update(body);
      mac.digestInto(this.tag);
      if (equalBytes(this.tag, tag)) return entry;
    }
    return undefined;
  }
}
