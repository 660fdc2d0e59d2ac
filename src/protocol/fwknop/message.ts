/**
 * The plaintext inside a fwknop packet (lib/fko_encode.c, lib/fko_decode.c): colon-separated fields
 *   random value : base64(user) : timestamp : version : message type : base64(access message)
 *   [: client timeout] : digest
 * where the access message is "IP,proto/port[,proto/port...]" and the digest is base64 of a hash of
 * everything before the last colon. Decoding is ours and strict: every field must be exactly what
 * a correct encoder writes, and the message types knockspa does not grant (commands, NAT) and the
 * server-auth field are refused by name.
 * @module
 */
import { equalBytes } from '@noble/ciphers/utils.js';
import { sha1, md5 } from '@noble/hashes/legacy.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { formatIpv4, parseIp } from '../address.js';
import { MAX_PORTS } from '../constants.js';
import { formatPortSpec, samePort, type PortSpec, type Proto } from '../ports.js';
import { decodeBase64Text, encodeBase64, encodeBase64Text } from './base64.js';
import {
  MAX_CLIENT_TIMEOUT_SEC,
  MAX_MESSAGE_B64_LENGTH,
  MAX_USERNAME_B64_LENGTH,
  MSG_ACCESS,
  MSG_CLIENT_TIMEOUT_ACCESS,
  MSG_COMMAND,
  MSG_NAT_TYPES,
  RANDOM_VALUE_DIGITS,
  SOURCE_ADDRESS,
} from './constants.js';
import type { FwknopRejectReason } from './reasons.js';

export type DigestType = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** fwknop tells the digest type by the length of its base64 (no padding). */
const DIGESTS: Readonly<Record<DigestType, { readonly hash: (data: Uint8Array) => Uint8Array; readonly b64Length: number }>> = {
  md5: { hash: md5, b64Length: 22 },
  sha1: { hash: sha1, b64Length: 27 },
  sha256: { hash: sha256, b64Length: 43 },
  sha384: { hash: sha384, b64Length: 64 },
  sha512: { hash: sha512, b64Length: 86 },
};
const DIGEST_BY_LENGTH = new Map(Object.entries(DIGESTS).map(([type, d]) => [d.b64Length, type as DigestType]));

export interface FwknopFields {
  /** Exactly 16 decimal digits, fresh for every packet. */
  readonly randomValue: string;
  /** The client's user name field (fwknop sends the local login name); not an identity. */
  readonly username: string;
  /** Seconds since the Unix epoch. */
  readonly timestampSec: number;
  readonly version: string;
  /** The address to open for; null means the packet's source address ("0.0.0.0" on the wire). */
  readonly allowIp: string | null;
  /** One to eight distinct TCP/UDP ports. */
  readonly ports: readonly PortSpec[];
  /** Seconds the client asks for (message type 3); 0 asks for none (message type 1). */
  readonly clientTimeoutSec: number;
  readonly digest: DigestType;
}

const RANDOM_VALUE = new RegExp(`^[0-9]{${RANDOM_VALUE_DIGITS}}$`);
const TIMESTAMP = /^(?:0|[1-9][0-9]{0,9})$/;
const VERSION = /^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}$/;
const TIMEOUT = /^[1-9][0-9]{0,4}$/;
const PORT_SPEC = /^(tcp|udp)\/([1-9][0-9]{0,4})$/;
/** Characters fwknop refuses in a user name (lib/fko_user.c): " / \ [ ] : ; | = , + * ? < > */
const USERNAME_FORBIDDEN = '"/\\[]:;|=,+*?<>';
const MAX_USERNAME_BYTES = (MAX_USERNAME_B64_LENGTH / 4) * 3; // 48
const U32_MAX = 0xffff_ffff;

/** fwknop's rule for user names (printable ASCII minus a few), within what fwknopd accepts (48 bytes). */
export function isValidUsername(name: string): boolean {
  if (name.length < 1 || name.length > MAX_USERNAME_BYTES) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || USERNAME_FORBIDDEN.includes(name[i] as string)) return false;
  }
  return true;
}

/** Base64 of the digest of `encoded`, as the last field carries it. */
export function digestField(encoded: string, type: DigestType): string {
  return encodeBase64(DIGESTS[type].hash(utf8ToBytes(encoded)));
}

/** `encoded` ‖ ":" ‖ digest: the whole plaintext of a packet. */
export function appendDigest(encoded: string, type: DigestType): string {
  return `${encoded}:${digestField(encoded, type)}`;
}

/** The plaintext for `fields`; throws on fields no valid packet may carry. */
export function encodeMessage(fields: FwknopFields): string {
  const { randomValue, username, timestampSec, version, allowIp, ports, clientTimeoutSec, digest } = fields;
  if (!RANDOM_VALUE.test(randomValue)) throw new Error(`random value: expected ${RANDOM_VALUE_DIGITS} decimal digits`);
  if (!isValidUsername(username))
    throw new Error(
      `user name: expected 1 to ${MAX_USERNAME_BYTES} printable characters other than ${USERNAME_FORBIDDEN}, got ${JSON.stringify(username)}`,
    );
  if (!Number.isInteger(timestampSec) || timestampSec < 0 || timestampSec > U32_MAX)
    throw new Error(`timestamp: expected seconds since the epoch, got ${timestampSec}`);
  if (!VERSION.test(version)) throw new Error(`version: expected like ${JSON.stringify('3.0.0')}, got ${JSON.stringify(version)}`);
  if (allowIp !== null && (allowIp === SOURCE_ADDRESS || canonicalIpv4(allowIp) !== allowIp))
    throw new Error(`allow ip: expected one IPv4 address (fwknop carries no IPv6), got ${JSON.stringify(allowIp)}`);
  if (ports.length < 1 || ports.length > MAX_PORTS) throw new Error(`ports: expected 1 to ${MAX_PORTS}, got ${ports.length}`);
  ports.forEach((p, i) => {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new Error(`port: expected 1..65535, got ${p.port}`);
    if (ports.slice(0, i).some((q) => samePort(p, q))) throw new Error(`ports: ${formatPortSpec(p)} given twice`);
  });
  if (!Number.isInteger(clientTimeoutSec) || clientTimeoutSec < 0 || clientTimeoutSec > MAX_CLIENT_TIMEOUT_SEC)
    throw new Error(`client timeout: expected 0..${MAX_CLIENT_TIMEOUT_SEC} seconds, got ${clientTimeoutSec}`);
  const access = [allowIp ?? SOURCE_ADDRESS, ...ports.map(formatPortSpec)].join(',');
  const type = clientTimeoutSec > 0 ? MSG_CLIENT_TIMEOUT_ACCESS : MSG_ACCESS;
  const encoded = [randomValue, encodeBase64Text(username), String(timestampSec), version, String(type), encodeBase64Text(access)];
  if (clientTimeoutSec > 0) encoded.push(String(clientTimeoutSec));
  return appendDigest(encoded.join(':'), digest);
}

/** Canonical dotted quad of an IPv4 address, or null. */
function canonicalIpv4(text: string): string | null {
  const ip = parseIp(text);
  return ip !== null && ip.family === 4 ? formatIpv4(ip.bytes) : null;
}

function decodeAccess(field: string): { allowIp: string | null; ports: PortSpec[] } | FwknopRejectReason {
  if (field.length > MAX_MESSAGE_B64_LENGTH) return 'fwknop-bad-fields';
  const text = decodeBase64Text(field);
  if (text === null) return 'fwknop-bad-fields';
  const [ipText = '', ...specs] = text.split(',');
  // Only what an encoder writes: a canonical dotted quad, nothing else (no IPv6, no leading zeros).
  if (canonicalIpv4(ipText) !== ipText) return 'fwknop-bad-address';
  if (specs.length < 1 || specs.length > MAX_PORTS) return 'fwknop-bad-ports';
  const ports: PortSpec[] = [];
  for (const spec of specs) {
    const m = PORT_SPEC.exec(spec);
    const port = Number(m?.[2]);
    if (m === null || port > 65535) return 'fwknop-bad-ports';
    const parsed = { proto: m[1] as Proto, port };
    if (ports.some((p) => samePort(p, parsed))) return 'fwknop-bad-ports';
    ports.push(parsed);
  }
  return { allowIp: ipText === SOURCE_ADDRESS ? null : ipText, ports };
}

/**
 * Reads a decrypted plaintext (printable ASCII). Checks the digest first, then every field in
 * order; the first problem is the answer.
 */
export function decodeMessage(text: string): FwknopFields | FwknopRejectReason {
  const cut = text.lastIndexOf(':');
  if (cut < 0) return 'fwknop-bad-fields';
  const encoded = text.slice(0, cut);
  const digestText = text.slice(cut + 1);
  const digest = DIGEST_BY_LENGTH.get(digestText.length);
  if (digest === undefined) return 'fwknop-bad-digest-length';
  if (!equalBytes(utf8ToBytes(digestField(encoded, digest)), utf8ToBytes(digestText))) return 'fwknop-bad-digest';

  const fields = encoded.split(':');
  if (fields.length < 6) return 'fwknop-bad-fields';
  const [randomValue = '', userField = '', timestampText = '', version = '', typeText = '', messageField = '', ...rest] = fields;
  if (!RANDOM_VALUE.test(randomValue)) return 'fwknop-bad-random';
  const username = userField.length <= MAX_USERNAME_B64_LENGTH ? decodeBase64Text(userField) : null;
  if (username === null || !isValidUsername(username)) return 'fwknop-bad-user';
  if (!TIMESTAMP.test(timestampText) || Number(timestampText) > U32_MAX) return 'fwknop-bad-timestamp';
  if (!VERSION.test(version)) return 'fwknop-bad-version';
  if (!/^[0-9]$/.test(typeText)) return 'fwknop-bad-message-type';
  const type = Number(typeText);
  if (type === MSG_COMMAND) return 'fwknop-command-refused';
  if (MSG_NAT_TYPES.includes(type)) return 'fwknop-nat-refused';
  if (type !== MSG_ACCESS && type !== MSG_CLIENT_TIMEOUT_ACCESS) return 'fwknop-bad-message-type';
  // What may follow the access message: type 1 nothing, type 3 the timeout; one more is server_auth.
  const expected = type === MSG_ACCESS ? 0 : 1;
  if (rest.length === expected + 1) return 'fwknop-server-auth-refused';
  if (rest.length !== expected) return 'fwknop-bad-fields';
  const access = decodeAccess(messageField);
  if (typeof access === 'string') return access;
  let clientTimeoutSec = 0;
  if (type === MSG_CLIENT_TIMEOUT_ACCESS) {
    const timeoutText = rest[0] as string;
    if (!TIMEOUT.test(timeoutText) || Number(timeoutText) > MAX_CLIENT_TIMEOUT_SEC) return 'fwknop-bad-timeout';
    clientTimeoutSec = Number(timeoutText);
  }
  return { randomValue, username, timestampSec: Number(timestampText), version, ...access, clientTimeoutSec, digest };
}
