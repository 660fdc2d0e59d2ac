/**
 * Reading and writing key files on disk, mode 0600 (the format itself is src/protocol/keyfile.ts).
 * @module
 */
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatKeyFile, KeyFileError, parseKeyFile } from '../protocol/keyfile.js';
import type { UserKey } from '../protocol/keys.js';
import { UsageError } from '../shared/errors.js';

/** Reads a key file, refusing one that others can read (like ssh does for private keys). */
export function loadKeyFile(file: string): UserKey {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    throw new UsageError(
      `cannot read key file ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass --key FILE or set KNOCKSPA_KEY`,
    );
  }
  if ((mode & 0o077) !== 0)
    throw new UsageError(`key file ${file} has mode ${(mode & 0o777).toString(8)}, so others can read the secret; run: chmod 600 ${file}`);
  try {
    return parseKeyFile(readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof KeyFileError) throw new UsageError(`key file ${file}: ${err.message}`);
    throw new UsageError(`cannot read key file ${file}: ${(err as Error).message}`);
  }
}

/** --key (or the profile's key), else $KNOCKSPA_KEY, else the only *.key file in ./keys. */
export function findKeyFile(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, keysDir = 'keys'): string {
  if (explicit !== undefined) return explicit;
  const fromEnv = env.KNOCKSPA_KEY;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  let candidates: string[] = [];
  try {
    candidates = readdirSync(keysDir).filter((f) => f.endsWith('.key'));
  } catch {
    // no ./keys: fall through to the error below
  }
  if (candidates.length === 1) return join(keysDir, candidates[0] as string);
  const found = candidates.length === 0 ? `no key file in ./${keysDir}` : `${candidates.length} key files in ./${keysDir}`;
  throw new UsageError(`which key? ${found}; pass --key FILE or set KNOCKSPA_KEY (or key = "FILE" in a profile)`);
}

/** Writes a new key file with mode 0600; refuses to replace one unless `force`. */
export function writeKeyFile(file: string, dir: string, key: UserKey, force: boolean): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const text = formatKeyFile(key);
  if (!force) {
    try {
      writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw new UsageError(`${file} already exists; use --force to replace it (the old key stops working)`);
      throw err;
    }
    return;
  }
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, file);
}
