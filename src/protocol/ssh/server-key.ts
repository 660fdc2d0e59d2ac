/**
 * The server's key file (docs/protocol.md §9.2): its static X25519 key pair, line-oriented like the
 * user key file. Errors name the line and what was expected, never the private key. And the public
 * key as clients are given it: standard base64 of the 32 bytes, one token, as WireGuard prints keys.
 * @module
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { ISO_TIME, readFieldLines } from '../field-lines.js';
import { KeyFileError } from '../keyfile-error.js';
import { X25519_KEY_SIZE } from './constants.js';
import { x25519PublicOf } from './x25519.js';

export const SERVER_KEY_HEADER = 'knockspa-server-key: 1';

export interface ServerKey {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly created: string;
}

const PUBLIC_TEXT = /^[A-Za-z0-9+/]{43}=$/;

export function formatServerPublicKey(publicKey: Uint8Array): string {
  return Buffer.from(publicKey).toString('base64');
}

/** A server public key as `keygen --server` prints it, or why not. */
export function parseServerPublicKey(text: string): Uint8Array | string {
  const t = text.trim();
  if (!PUBLIC_TEXT.test(t))
    return `expected the server's public key as knockspa keygen --server printed it (44 base64 characters), got ${t.length} characters`;
  return new Uint8Array(Buffer.from(t, 'base64'));
}

export function newServerKey(privateKey: Uint8Array, created: string): ServerKey {
  return { privateKey, publicKey: x25519PublicOf(privateKey), created };
}

export function formatServerKeyFile(key: ServerKey): string {
  return [
    '# knockspa server key. SECRET: keep it mode 0600, on this server only. Clients need only the public key below.',
    SERVER_KEY_HEADER,
    `created: ${key.created}`,
    `public-key: ${formatServerPublicKey(key.publicKey)}`,
    `private-key: ${bytesToHex(key.privateKey)}`,
    '',
  ].join('\n');
}

type Field = 'created' | 'public-key' | 'private-key';
const FIELDS: readonly Field[] = ['created', 'public-key', 'private-key'];

/** Checks one field's value where it stands; never shows the private key. */
function checkField(field: Field, value: string, line: number): void {
  if (field === 'created' && !ISO_TIME.test(value)) throw new KeyFileError(line, 'created: expected an ISO 8601 UTC time');
  if (field === 'private-key' && !new RegExp(`^[0-9a-f]{${2 * X25519_KEY_SIZE}}$`).test(value))
    throw new KeyFileError(line, `private-key: expected ${2 * X25519_KEY_SIZE} lowercase hex digits, got ${value.length} characters`);
  if (field === 'public-key' && !PUBLIC_TEXT.test(value)) throw new KeyFileError(line, 'public-key: expected 44 base64 characters');
}

export function parseServerKeyFile(text: string): ServerKey {
  const seen = readFieldLines(text, {
    header: SERVER_KEY_HEADER,
    name: 'server key file',
    what: 'a knockspa server key file',
    fields: FIELDS,
    check: checkField,
  });
  const key = newServerKey(hexToBytes(seen.get('private-key') as string), seen.get('created') as string);
  if (formatServerPublicKey(key.publicKey) !== seen.get('public-key')) {
    key.privateKey.fill(0);
    throw new KeyFileError(0, 'public-key: does not match private-key (the file was edited or mixed up)');
  }
  return key;
}
