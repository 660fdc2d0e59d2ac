/**
 * Who sent a packet that passed its HMAC and was still refused (stale, future, wrong-server,
 * replay): the server log names the user, the key and, for time, the clock skew. One mutable
 * record per verifier, so the reject path allocates nothing.
 * @module
 */

export class AuthenticatedReject {
  /** False after a reject before the HMAC passed (or before any reject): the rest is stale then. */
  set = false;
  user = '';
  /** The knockspa key id; '' for fwknop packets, which name no key. */
  keyIdHex = '';
  /** The packet's timestamp minus the server's clock, for time rejects; NaN otherwise. */
  skewMs = Number.NaN;
  /** The SSH key (`SHA256:...`) of an SSH-key knock; '' for the other formats. */
  fingerprint = '';

  clear(): void {
    this.set = false;
  }

  record(user: string, keyIdHex: string, skewMs = Number.NaN, fingerprint = ''): void {
    this.set = true;
    this.user = user;
    this.keyIdHex = keyIdHex;
    this.skewMs = skewMs;
    this.fingerprint = fingerprint;
  }

  /** Fields for the reject log line, or undefined if the last reject was not an authenticated one. */
  logFields(): { user: string; keyId?: string; sshKey?: string; skewSec?: number } | undefined {
    if (!this.set) return undefined;
    return {
      user: this.user,
      ...(this.keyIdHex === '' ? {} : { keyId: this.keyIdHex }),
      ...(this.fingerprint === '' ? {} : { sshKey: this.fingerprint }),
      ...(Number.isNaN(this.skewMs) ? {} : { skewSec: Math.round(this.skewMs / 100) / 10 }),
    };
  }
}
