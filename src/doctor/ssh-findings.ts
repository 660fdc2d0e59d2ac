/**
 * Server doctor, SSH keys part: the server key file (the daemon's own, mode 0600, parses, its
 * public key for clients), each SSH user's keys (type, size, fingerprint; every line of an
 * ssh_keys_file parses), and that such a user needs no secret on this server.
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { formatServerPublicKey } from '../protocol/ssh/server-key.js';
import type { SshPublicKey } from '../protocol/ssh/public-key.js';
import type { ServerConfig } from '../server/config/config.js';
import { userKeyFiles } from '../server/config/keystore.js';
import { loadSshKeys, readServerKey, readSshKeysFile } from '../server/config/ssh-users.js';
import { ConfigError } from '../shared/errors.js';
import { fail, ok, warn, type Finding } from './finding.js';

function describe(key: SshPublicKey, requireTouch: boolean): string {
  const size = key.type === 'ssh-rsa' ? `RSA ${key.bits} bits` : key.type;
  const touch = key.type.startsWith('sk-') ? (requireTouch ? ', needs a touch' : ', require_touch = false: no touch needed') : '';
  return `${size} ${key.fingerprint}${key.comment === '' ? '' : ` (${key.comment})`}${touch}`;
}

export function sshFindings(config: ServerConfig): Finding[] {
  if (config.sshUsers.size === 0) return [];
  const findings: Finding[] = [];
  try {
    const key = readServerKey(config.file, config.serverKeyFile);
    const m = statSync(config.serverKeyFile).mode & 0o777;
    findings.push(
      ok(`server key ${config.serverKeyFile} (mode ${m.toString(8)}); clients' --server-key is ${formatServerPublicKey(key.publicKey)}`),
    );
    key.privateKey.fill(0);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [
      fail(
        `server key: ${err.expected}`,
        `the daemon refuses to start; make one: knockspa keygen --server --out ${config.serverKeyFile.replace(/\/[^/]*$/, '')}`,
      ),
    ];
  }
  const keyFiles = existsSync(config.keysDir) ? userKeyFiles(config) : new Map<string, string[]>();
  for (const [user, settings] of config.sshUsers) {
    let keys: SshPublicKey[];
    try {
      keys = [...settings.keys, ...(settings.file === undefined ? [] : readSshKeysFile(config.file, user, settings.file))];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      findings.push(fail(`${err.key}: ${err.expected}`, 'fix or remove that line (one bare public key per line), then reload'));
      continue;
    }
    if (keys.length === 0)
      findings.push(
        warn(
          `user ${user} has no SSH key (${settings.file ?? 'ssh_keys'} is empty)`,
          `add ${user}'s public key, or remove [users.${user}]`,
        ),
      );
    for (const key of keys) findings.push(ok(`user ${user}: SSH key ${describe(key, settings.requireTouch)}`));
    const secrets = keyFiles.get(user) ?? [];
    if (secrets.length === 0) findings.push(ok(`user ${user} knocks with SSH keys only: no secret of ${user}'s is on this server`));
    else
      findings.push(
        warn(
          `user ${user} also has knockspa key file(s) ${secrets.join(', ')}: a shared secret whose theft here lets anyone knock as ${user}`,
          `if ${user} knocks only with SSH keys, delete them and reload`,
        ),
      );
  }
  // One by one fine, together maybe not (the same key for two users).
  if (!findings.some((f) => f.status === 'fail')) {
    try {
      loadSshKeys(config);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      findings.push(fail(`${err.key}: ${err.expected}`, 'one SSH key belongs to one user: remove it from the other'));
    }
  }
  return findings;
}
