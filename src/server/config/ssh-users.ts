/**
 * Users who knock with their SSH key (docs/ssh-keys.md): per user `ssh_keys = ["ssh-ed25519 AAAA…", …]`
 * and/or `ssh_keys_file = "PATH"` (authorized_keys format), `require_touch` for security keys; the
 * server's X25519 key in `server_key` (default server.key beside the config). Every line is checked
 * like a packet; errors name the file, the key (or line) and what was expected.
 * @module
 */
import { resolve } from 'node:path';
import { KeyFileError } from '../../protocol/keyfile.js';
import { parseAuthorizedKey, type SshPublicKey } from '../../protocol/ssh/public-key.js';
import { SshKeyring } from '../../protocol/ssh/keyring.js';
import { parseServerKeyFile, type ServerKey } from '../../protocol/ssh/server-key.js';
import { ConfigError, shown } from '../../shared/errors.js';
import { FileRefused, readOwnFile } from '../own-files.js';

type Table = Record<string, unknown>;

export const SSH_USER_KEYS = ['ssh_keys', 'ssh_keys_file', 'require_touch'] as const;
/** An authorized_keys file of one user: a few keys, not a directory's worth. */
export const MAX_SSH_KEYS_FILE_BYTES = 256 * 1024;
export const MAX_SERVER_KEY_FILE_BYTES = 4096;

export interface SshUserKeys {
  /** The inline keys, parsed. */
  readonly keys: readonly SshPublicKey[];
  /** Absolute path of the user's authorized_keys-format file, read at load and on every reload. */
  readonly file?: string;
  readonly requireTouch: boolean;
}

/** The SSH-key settings of one [users.NAME] table, or undefined if it has none. */
export function readSshUser(file: string, name: string, table: Table, base: string): SshUserKeys | undefined {
  const prefix = `users.${name}`;
  const { ssh_keys: inline, ssh_keys_file: keysFile, require_touch: touch } = table;
  if (inline === undefined && keysFile === undefined) {
    if (touch !== undefined) throw new ConfigError(file, `${prefix}.require_touch`, 'only with ssh_keys or ssh_keys_file');
    return undefined;
  }
  if (table.format !== undefined && table.format !== 'knockspa')
    throw new ConfigError(file, `${prefix}.ssh_keys`, `SSH keys are a knockspa format; remove them or format = ${shown(table.format)}`);
  const keys: SshPublicKey[] = [];
  if (inline !== undefined) {
    if (!Array.isArray(inline) || inline.length === 0)
      throw new ConfigError(
        file,
        `${prefix}.ssh_keys`,
        `expected an array of public keys like ["ssh-ed25519 AAAA… comment"], got ${shown(inline)}`,
      );
    inline.forEach((line: unknown, i) => {
      const where = `${prefix}.ssh_keys[${i}]`;
      if (typeof line !== 'string')
        throw new ConfigError(file, where, `expected a public key line ("ssh-ed25519 AAAA… comment"), got ${shown(line)}`);
      const key = parseAuthorizedKey(line);
      if (typeof key === 'string') throw new ConfigError(file, where, key);
      keys.push(key);
    });
  }
  if (keysFile !== undefined && (typeof keysFile !== 'string' || keysFile === ''))
    throw new ConfigError(file, `${prefix}.ssh_keys_file`, `expected a path to an authorized_keys-format file, got ${shown(keysFile)}`);
  if (touch !== undefined && typeof touch !== 'boolean')
    throw new ConfigError(file, `${prefix}.require_touch`, `expected true or false, got ${shown(touch)}`);
  return { keys, ...(keysFile === undefined ? {} : { file: resolve(base, keysFile) }), requireTouch: touch ?? true };
}

/** The keys of an authorized_keys-format file; blank lines and # comments skipped, anything else must be a key. */
export function readSshKeysFile(configFile: string, user: string, path: string): SshPublicKey[] {
  const where = `users.${user}.ssh_keys_file`;
  let text: string;
  try {
    text = readOwnFile(path, { maxBytes: MAX_SSH_KEYS_FILE_BYTES });
  } catch (err) {
    if (err instanceof FileRefused) throw new ConfigError(configFile, where, err.message);
    throw new ConfigError(
      configFile,
      where,
      `expected an authorized_keys-format file at ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  const keys: SshPublicKey[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const key = parseAuthorizedKey(line);
    if (typeof key === 'string') throw new ConfigError(configFile, where, `${path} line ${i + 1}: ${key}`);
    keys.push(key);
  });
  return keys;
}

/** The server's key file: the daemon's own, mode 0600, parsed strictly. */
export function readServerKey(configFile: string, path: string): ServerKey {
  let text: string;
  try {
    text = readOwnFile(path, { secret: true, maxBytes: MAX_SERVER_KEY_FILE_BYTES });
  } catch (err) {
    if (err instanceof FileRefused) throw new ConfigError(configFile, 'server_key', `server key ${err.message}`);
    throw new ConfigError(
      configFile,
      'server_key',
      `expected the server key file ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}); make it with: knockspa keygen --server --out ${resolve(path, '..')}`,
    );
  }
  try {
    return parseServerKeyFile(text);
  } catch (err) {
    if (err instanceof KeyFileError) throw new ConfigError(configFile, 'server_key', `${path}: ${err.message}`);
    throw new ConfigError(configFile, 'server_key', `${path}: cannot read the server key (${(err as Error).message})`);
  }
}

export interface LoadedSshKeys {
  readonly keyring: SshKeyring;
  readonly serverKey: ServerKey;
  /** Users with at least one SSH key. */
  readonly users: ReadonlySet<string>;
  readonly warnings: readonly string[];
}

/**
 * The SSH keyring of a config: null when no user has SSH keys (then server_key is not read). A user
 * whose keys file has no key left is a warning on reload (how a key is revoked), an error at start.
 */
export function loadSshKeys(
  config: { readonly file: string; readonly serverKeyFile: string; readonly sshUsers: ReadonlyMap<string, SshUserKeys> },
  opts: { readonly missing?: 'error' | 'revoke' } = {},
): LoadedSshKeys | null {
  if (config.sshUsers.size === 0) return null;
  const serverKey = readServerKey(config.file, config.serverKeyFile);
  const keyring = new SshKeyring(serverKey.publicKey);
  const users = new Set<string>();
  const warnings: string[] = [];
  for (const [user, settings] of config.sshUsers) {
    const keys = [...settings.keys, ...(settings.file === undefined ? [] : readSshKeysFile(config.file, user, settings.file))];
    if (keys.length === 0) {
      const message = `user ${user} has no SSH key (${settings.file ?? 'ssh_keys'} is empty): ${user} cannot knock with one`;
      if (opts.missing !== 'revoke' && settings.file !== undefined)
        throw new ConfigError(config.file, `users.${user}.ssh_keys_file`, `expected at least one key; ${settings.file} has none`);
      warnings.push(message);
      continue;
    }
    for (const key of keys) {
      try {
        keyring.add(user, key, settings.requireTouch);
      } catch (err) {
        throw new ConfigError(config.file, `users.${user}`, (err as Error).message);
      }
    }
    users.add(user);
  }
  return { keyring, serverKey, users, warnings };
}
