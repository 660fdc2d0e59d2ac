/**
 * Who knocks and how, once per command: a knockspa key file (v1) or an SSH key (through ssh-agent
 * or a private key file). Flags first, then the profile: --key picks the key file even when the
 * profile names an SSH key, and --ssh-key an SSH key even when it names a key file.
 * @module
 */
import type { KnockFields } from '../protocol/body.js';
import { UsageError } from '../shared/errors.js';
import { loadKeyFile } from './key-file.js';
import { sendKnock, type DatagramSender, type KnockTarget, type SentKnock } from './knock.js';
import type { Profile } from './profiles.js';
import { findKeyFile } from './key-file.js';
import type { ServerFlags } from './target.js';

export interface Knocker {
  /** For messages: the user of the key file, or the SSH key's fingerprint. */
  readonly who: string;
  knock(fields: Omit<KnockFields, 'timestampMs'>, target: KnockTarget, send?: DatagramSender): Promise<SentKnock>;
  close(): void;
}

/** The SSH key to sign with ("agent", a .pub, a private key file), or undefined for a knockspa key file. */
export function sshKeySpec(flags: ServerFlags, profile: Profile | undefined): string | undefined {
  if (flags.sshKey !== undefined) {
    if (flags.key !== undefined) throw new UsageError('--key and --ssh-key: pass one (a knockspa key file or an SSH key)');
    return flags.sshKey;
  }
  return flags.key === undefined ? profile?.sshKey : undefined;
}

export async function openKnocker(
  flags: ServerFlags,
  profile: Profile | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Knocker> {
  const spec = sshKeySpec(flags, profile);
  if (spec !== undefined) {
    if (flags.serverId !== undefined)
      throw new UsageError("--server-id is for knockspa key files; an SSH-key knock is bound to the server's public key (--server-key)");
    // Loaded only for an SSH-key knock.
    const { openSshSigner, sendSshKnock, serverPublicKeyOf } = await import('./ssh-knock.js');
    const serverPublic = serverPublicKeyOf(flags.serverKey ?? profile?.serverKey);
    const signer = await openSshSigner(spec, env);
    return {
      who: `${signer.key.fingerprint} (${signer.key.type}, via ${signer.via})`,
      knock: (fields, target, send) => sendSshKnock(signer, serverPublic, fields, target, send),
      close: () => signer.close(),
    };
  }
  if (flags.serverKey !== undefined)
    throw new UsageError('--server-key goes with --ssh-key (an SSH-key knock); a knockspa key file needs neither');
  const key = loadKeyFile(findKeyFile(flags.key ?? profile?.key, env));
  return {
    who: key.user,
    knock: (fields, target, send) => sendKnock(key, fields, target, flags.serverId, send),
    close: () => key.secret.fill(0),
  };
}
