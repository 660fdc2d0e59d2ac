/**
 * Server doctor, files part: the key directory and every user's key files (mode, owner user,
 * server id, duplicates, strays), and the state directory (writable, private, not from the future).
 * @module
 */
import { existsSync, lstatSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { ServerConfig } from '../server/config/config.js';
import { ConfigError } from '../shared/errors.js';
import { keyFileOwner, listKeyFiles, loadKeys, readUserKey, userKeyFiles } from '../server/config/keystore.js';
import { ownDirectoryProblem } from '../server/own-files.js';
import { StateStore } from '../server/state/state.js';

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
import { fail, ok, warn, type Finding } from './finding.js';

const mode = (m: number): string => (m & 0o777).toString(8);

function keyDirFindings(config: ServerConfig): Finding[] {
  let st;
  try {
    st = statSync(config.keysDir);
  } catch (err) {
    return [
      fail(
        `keys_dir ${config.keysDir} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        `create it: install -d -m 700 ${config.keysDir}, then knockspa keygen --user NAME --out ${config.keysDir}`,
      ),
    ];
  }
  if ((st.mode & 0o022) !== 0)
    return [fail(`keys_dir ${config.keysDir} has mode ${mode(st.mode)}: others can add keys`, `chmod 700 ${config.keysDir}`)];
  return [ok(`keys_dir ${config.keysDir} (mode ${mode(st.mode)})`)];
}

function userKeyFindings(config: ServerConfig): Finding[] {
  const findings: Finding[] = [];
  for (const [user, files] of userKeyFiles(config)) {
    if (files.length === 0) {
      if (config.sshUsers.has(user)) continue; // SSH keys instead (ssh-findings.ts)
      findings.push(
        fail(
          `user ${user} has no key file in ${config.keysDir}`,
          `knockspa keygen --user ${user} --server-id ${config.serverId} --out ${config.keysDir}, or remove [users.${user}]`,
        ),
      );
      continue;
    }
    for (const file of files) {
      const m = statSync(file).mode;
      if ((m & 0o077) !== 0) {
        findings.push(
          fail(
            `key file ${file} has mode ${mode(m)}: others can read the secret`,
            `chmod 600 ${file} (and consider the key leaked: knockspa keygen --user ${user} --rotate)`,
          ),
        );
        continue;
      }
      try {
        const key = readUserKey(config, user, file);
        key.secret.fill(0);
        const id = bytesToHex(key.keyId);
        if (key.serverId !== config.serverId)
          findings.push(
            warn(
              `key file ${file} is bound to server id "${key.serverId}", not "${config.serverId}": its knocks are refused as wrong-server`,
              `make ${user} a key for this server: knockspa keygen --user ${user} --rotate --server-id ${config.serverId} --out ${config.keysDir}`,
            ),
          );
        else findings.push(ok(`key file ${basename(file)} of ${user} (key id ${id}, mode ${mode(m)})`));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        findings.push(
          fail(err.expected, `replace it: knockspa keygen --user ${user} --rotate --out ${config.keysDir}, then remove the bad file`),
        );
      }
    }
  }
  for (const name of listKeyFiles(config)) {
    if (keyFileOwner(name, config.users.keys()) === undefined)
      findings.push(
        warn(
          `${join(config.keysDir, name)} belongs to no [users.NAME] table, so it is not loaded`,
          `delete it if that user is revoked, or add the user's table`,
        ),
      );
  }
  // What the files pass one by one, the keyring may still refuse together (the same key id twice).
  if (!findings.some((f) => f.status === 'fail')) {
    try {
      loadKeys(config);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      findings.push(fail(err.expected, 'remove one of the two files'));
    }
  }
  return findings;
}

export function keyFindings(config: ServerConfig): Finding[] {
  const byUser = userKeyFiles(config);
  if (byUser.size === 0) return []; // only users with format = "fwknop": no key files
  // Users who all knock with SSH keys need no keys_dir.
  if ([...byUser.keys()].every((u) => config.sshUsers.has(u)) && !existsSync(config.keysDir)) return [];
  const dir = keyDirFindings(config);
  return dir.some((f) => f.status === 'fail') ? dir : [...dir, ...userKeyFindings(config)];
}

export function stateFindings(config: ServerConfig, nowMs: number = Date.now()): Finding[] {
  const dir = config.stateDir;
  if (!existsSync(dir)) {
    const parent = dirname(dir);
    return [
      warn(
        `state_dir ${dir} does not exist yet`,
        existsSync(parent) ? 'the daemon creates it at start (mode 700)' : `create it: install -d -m 700 ${dir}`,
      ),
    ];
  }
  const notOwn = ownDirectoryProblem(dir);
  if (notOwn !== null) return [fail(`state_dir: ${notOwn.what}: the daemon refuses it`, notOwn.fix)];
  const probe = join(dir, `.doctor-${process.pid}`);
  try {
    writeFileSync(probe, '', { mode: 0o600 });
    rmSync(probe);
  } catch (err) {
    return [
      fail(
        `state_dir ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        `the daemon must write its replay cache and grants there: chown root ${dir} && chmod 700 ${dir}`,
      ),
    ];
  }
  const findings = [ok(`state_dir ${dir} is the daemon's own and writable`)];
  const { file } = new StateStore(dir);
  if (existsSync(file) || isLink(file)) {
    const st = lstatSync(file);
    if (!st.isFile())
      return [
        ...findings,
        fail(
          `${file} is not a regular file (a link or something else)`,
          `remove it: rm ${file} (the daemon then starts without its state)`,
        ),
      ];
    if ((st.mode & 0o077) !== 0) findings.push(warn(`${file} has mode ${mode(st.mode)}`, `chmod 600 ${file}`));
    // Written in the future: the clock went back since, and packets stamped "now" may look old.
    if (st.mtimeMs > nowMs + 60_000)
      findings.push(
        fail(
          `${file} was written at ${new Date(st.mtimeMs).toISOString()}, later than now: the clock went back`,
          'set the clock right (NTP); knocks are judged by it',
        ),
      );
  }
  return findings;
}
