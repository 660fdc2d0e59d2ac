/**
 * The key file (docs/protocol.md §3.1): versioned, line-oriented, human-readable; one file serves
 * both the client and the server. Errors name the line and what was expected, never the secret.
 * @module
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { KEY_ID_SIZE, SECRET_SIZE } from './constants.js';
import { ISO_TIME, readFieldLines } from './field-lines.js';
import { KeyFileError } from './keyfile-error.js';
import { SERVER_ID, USER_NAME, type UserKey } from './keys.js';

export const KEY_FILE_HEADER = 'knockspa-key: 1';

export { KeyFileError };

type Field = 'user' | 'key-id' | 'server-id' | 'created' | 'secret';
const FIELDS: readonly Field[] = ['user', 'key-id', 'server-id', 'created', 'secret'];

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
  const fields = readFieldLines(text, {
    header: KEY_FILE_HEADER,
    name: 'key file',
    what: 'a knockspa v1 key file',
    fields: FIELDS,
    check: checkField,
  });
  const get = (field: Field): string => fields.get(field) as string;
  return {
    user: get('user'),
    keyId: hexToBytes(get('key-id')),
    serverId: get('server-id'),
    created: get('created'),
    secret: hexToBytes(get('secret')),
  };
}
