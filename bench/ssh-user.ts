/**
 * The SSH-key user of `npm run bench`'s "ssh" figure: bob, with an Ed25519 key made by ssh-keygen
 * and held by a real ssh-agent (in the client namespace, as a user's would run), and the server's
 * X25519 key made by `knockspa keygen --server`. Knocks are built with the client's own code
 * (src/client/ssh-knock.ts) and signed through the agent, ahead of the timed send, like the
 * pre-built shared-secret knocks of the other figures. Also the two kinds of invalid SSH-shaped
 * packet: an unknown candidate id, and a known one whose signature fails.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSshSigner, serverPublicKeyOf, type SshSigner } from '../src/client/ssh-knock.js';
import { secureRandomBytes } from '../src/client/random.js';
import type { Action } from '../src/protocol/body.js';
import { SSH_MAGIC, SSH_OFF_BODY, SSH_OFF_SIGNATURE, SSH_VERSION } from '../src/protocol/ssh/constants.js';
import { sshDataToSign, sshFinishPacket, sshUnsignedPacket } from '../src/protocol/ssh/packet.js';
import type { TestNet } from '../test/lab/netns.js';
import { NODE, runOk, sleep } from '../test/lab/process.js';
import { CLI } from '../test/support/knockspa.js';

export const SSH_USER = 'bob';
/** Invalid SSH-shaped packets: the right length and magic with an unknown candidate id; a known candidate id, bad signature. */
export type SshJunkKind = 'ssh-unknown' | 'ssh-bad-sig';
export const SSH_JUNK_KINDS: readonly SshJunkKind[] = ['ssh-unknown', 'ssh-bad-sig'];
/** Distinct signed knocks behind the bad-signature junk (each with several single-bit flips). */
const FORGED_BASES = 16;

export interface SshUser {
  /** bob's public key line (authorized_keys format), for `ssh_keys`. */
  readonly publicLine: string;
  /** Absolute path of the server's key file, for `server_key`. */
  readonly serverKeyFile: string;
  /** The key's `SHA256:` fingerprint. */
  readonly fingerprint: string;
  /** A fresh knock for `action` on tcp/`port`, signed through the agent now. */
  knock(action: Action, port: number): Promise<Uint8Array>;
  junk(kind: SshJunkKind, count: number): Uint8Array[];
}

/** Makes the key, starts ssh-agent in the client namespace (stopped with the net), adds the key, makes the server key. */
export async function makeSshUser(net: TestNet, dir: string, port: number): Promise<SshUser> {
  const home = join(dir, 'ssh-user');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const key = join(home, 'id_ed25519');
  await runOk(null, ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'bob@bench', '-f', key]);
  const sock = join(home, 'agent.sock');
  const agent = net.spawnIn(net.cli, ['ssh-agent', '-D', '-a', sock]);
  for (let i = 0; i < 200 && !existsSync(sock); i++) await sleep(25);
  if (!existsSync(sock)) throw new Error(`ssh-agent did not make its socket\n${agent.describe()}`);
  const env = { ...process.env, SSH_AUTH_SOCK: sock };
  await runOk(null, ['ssh-add', '-q', key], { env, input: '' });

  const serverDir = join(home, 'server');
  mkdirSync(serverDir, { mode: 0o700 });
  const serverPublic = serverPublicKeyOf((await runOk(null, [NODE, CLI, 'keygen', '--server', '--out', serverDir])).stdout.trim());
  const signer: SshSigner = await openSshSigner(`${key}.pub`, env);
  net.onCleanup(() => signer.close());

  const knock = async (action: Action, p: number): Promise<Uint8Array> => {
    const ephemeralPrivate = secureRandomBytes(32);
    const unsigned = sshUnsignedPacket({
      fields: { timestampMs: Date.now(), action, ports: [{ proto: 'tcp', port: p }], allowIp: null, durationSec: 0 },
      serverPublic,
      ephemeralPrivate,
      keyBlob: signer.key.blob,
    });
    return sshFinishPacket(unsigned, signer.key, await signer.sign(sshDataToSign(unsigned)));
  };
  // Real knocks, each to be sent with one bit of its sealed body flipped: the candidate id is bob's,
  // the length right, and the signature (over the whole packet) fails only after a full verification.
  const forgedBases: Uint8Array[] = [];
  for (let i = 0; i < FORGED_BASES; i++) forgedBases.push(await knock('open', port));
  const size = (forgedBases[0] as Uint8Array).length;

  return {
    publicLine: readFileSync(`${key}.pub`, 'utf8').trim(),
    serverKeyFile: join(serverDir, 'server.key'),
    fingerprint: signer.key.fingerprint,
    knock,
    junk: (kind, count) =>
      Array.from({ length: count }, (_, i) => {
        if (kind === 'ssh-unknown') {
          const p = new Uint8Array(randomBytes(size));
          p[0] = SSH_MAGIC;
          p[1] = SSH_VERSION;
          return p;
        }
        const p = (forgedBases[i % FORGED_BASES] as Uint8Array).slice();
        const bit = Math.floor(i / FORGED_BASES) % ((SSH_OFF_SIGNATURE - SSH_OFF_BODY) * 8);
        p[SSH_OFF_BODY + (bit >> 3)]! ^= 1 << (bit & 7);
        return p;
      }),
  };
}
