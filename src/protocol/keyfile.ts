/**
 * The key file (docs/protocol.md §3.1): versioned, line-oriented, human-readable; one file serves
 * both the client and the server. Errors name the line and what was expected, never the secret.
 * @module
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { KEY_ID_SIZE, SECRET_SIZE } from './constants.js';
import { SERVER_ID, USER_NAME, type UserKey } from './keys.js';

export const KEY_FILE_HEADER = 'knockspa-key: 1';

export class KeyFileError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(line > 0 ? `line ${line}: ${message}` : message);
    this.name = 'KeyFileError';
  }
}

type Field = 'user' | 'key-id' | 'server-id' | 'created' | 'secret';
const FIELDS: readonly Field[] = ['user', 'key-id', 'server-id', 'created', 'secret'];
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;

/**
 * Whether a file name in a key directory holds one of `user`'s keys: NAME.key, or NAME.LABEL.key
 * for the keys a rotation adds beside it (e.g. alice.2026-11-22.key).
 */
export function isKeyFileNameFor(fileName: string, user: string): boolean {
  return fileName === `${user}.key` || (fileName.startsWith(`${user}.`) && fileName.endsWith('.key') && fileName.length > user.length + 5);
}

export function formatKeyFile(key: UserKey): string {
  return [
    "# knockspa key file. SECRET: keep it mode 0600; it belongs on this user's client and on the server only.",
    KEY_FILE_HEADER,
    `user: ${key.user}`,
    `key-id: ${bytesToHex(key.keyId)}`,
    `server-id: ${key.serverId}`,
    `created: ${key.created}`,
    `secret: ${bytesToHex(key.secret)}`,
    '',
  ].join('\n');
}

/**
 * A value as an error message may show it: quoted if short, else only its length. No valid non-secret
 * value is longer than 32 characters (a user name) and a secret is 64, so a secret pasted into the
 * wrong field is never echoed into a terminal or a log.
 */
function shown(value: string): string {
  return value.length <= 32 ? JSON.stringify(value) : `${value.length} characters`;
}

function hexField(value: string, size: number, field: Field, line: number): void {
  if (value.length !== 2 * size || !/^[0-9a-f]+$/.test(value))
    throw new KeyFileError(
      line,
      `${field}: expected ${2 * size} lowercase hex digits, got ${field === 'secret' ? `${value.length} characters` : shown(value)}`,
    );
}

/** Checks one field's value where it stands, so the error names its line. */
function checkField(field: Field, value: string, line: number): void {
  switch (field) {
    case 'user':
      if (!USER_NAME.test(value)) throw new KeyFileError(line, `user: expected a name matching ${USER_NAME}, got ${shown(value)}`);
      return;
    case 'server-id':
      if (!SERVER_ID.test(value)) throw new KeyFileError(line, `server-id: expected a host-name-like identity, got ${shown(value)}`);
      return;
    case 'created':
      if (!ISO_TIME.test(value)) throw new KeyFileError(line, `created: expected an ISO 8601 UTC time, got ${shown(value)}`);
      return;
    case 'key-id':
      return hexField(value, KEY_ID_SIZE, field, line);
    case 'secret':
      return hexField(value, SECRET_SIZE, field, line);
  }
}

export function parseKeyFile(text: string): UserKey {
  const seen = new Map<Field, { value: string; line: number }>();
  let headerSeen = false;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = (lines[i] as string).replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!headerSeen) {
      if (line !== KEY_FILE_HEADER) throw new KeyFileError(lineNo, `expected "${KEY_FILE_HEADER}" (this is not a knockspa v1 key file)`);
      headerSeen = true;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) throw new KeyFileError(lineNo, 'expected "field: value"');
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!(FIELDS as readonly string[]).includes(name))
      throw new KeyFileError(lineNo, `unknown field ${shown(name)}; expected one of ${FIELDS.join(', ')}`);
    const field = name as Field;
    if (seen.has(field)) throw new KeyFileError(lineNo, `${field}: given twice (first on line ${seen.get(field)?.line})`);
    checkField(field, value, lineNo);
    seen.set(field, { value, line: lineNo });
  }
  if (!headerSeen) throw new KeyFileError(0, `empty key file: expected "${KEY_FILE_HEADER}" and the fields ${FIELDS.join(', ')}`);
  const get = (field: Field): string => {
    const entry = seen.get(field);
    if (entry === undefined) throw new KeyFileError(0, `missing field "${field}"`);
    return entry.value;
  };
  return {
    user: get('user'),
    keyId: hexToBytes(get('key-id')),
    serverId: get('server-id'),
    created: get('created'),
    secret: hexToBytes(get('secret')),
  };
}
