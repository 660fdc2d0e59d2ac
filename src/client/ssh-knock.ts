/**
 * An SSH-key knock (docs/ssh-keys.md): the packet sealed to the server's public key with a fresh
 * ephemeral key, signed by the user's SSH key through ssh-agent (`--ssh-key KEY.pub`, or "agent":
 * the agent's first key of a supported type) or with an unencrypted private key file.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { KnockFields } from '../protocol/body.js';
import { parseAuthorizedKey, SSH_KEY_TYPES, type SshPublicKey, parseSshKeyBlob } from '../protocol/ssh/public-key.js';
import { parseServerPublicKey } from '../protocol/ssh/server-key.js';
import { sshDataToSign, sshFinishPacket, sshUnsignedPacket } from '../protocol/ssh/packet.js';
import { UsageError } from '../shared/errors.js';
import { checkAllowIp } from './allow-ip.js';
import { resolveHost, type DatagramSender, type KnockTarget, type SentKnock } from './knock.js';
import { sendFailure } from './net-words.js';
import { secureRandomBytes } from './random.js';
import { AGENT_RSA_SHA2_512, SshAgent } from './ssh-agent.js';
import { loadPrivateSshKey } from './ssh-private-key.js';
import { sendDatagram } from './udp-send.js';

/** Who signs: the key and how. */
export interface SshSigner {
  readonly key: SshPublicKey;
  /** For messages: "ssh-agent" or the private key file. */
  readonly via: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
  close(): void;
}

const MAX_KEY_FILE = 64 * 1024;

function readSmall(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (text.length > MAX_KEY_FILE) throw new UsageError(`${file} is ${text.length} bytes; expected an SSH key file`);
  return text;
}

/** The server's public key from --server-key / server_key, or a UsageError saying what it should be. */
export function serverPublicKeyOf(text: string | undefined): Uint8Array {
  if (text === undefined)
    throw new UsageError(
      "which server key? an SSH-key knock is sealed to the server's public key: pass --server-key KEY (what knockspa keygen --server printed there) or set server_key in the profile",
    );
  const key = parseServerPublicKey(text);
  if (typeof key === 'string') throw new UsageError(`--server-key: ${key}`);
  return key;
}

function agentSigner(agent: SshAgent, key: SshPublicKey): SshSigner {
  return {
    key,
    via: 'ssh-agent',
    sign: (data) => agent.sign(key.blob, data, key.type === 'ssh-rsa' ? AGENT_RSA_SHA2_512 : 0),
    close: () => agent.close(),
  };
}

/**
 * The signer for `spec`: "agent" (the agent's first key of a supported type, in `ssh-add -l` order),
 * a public key file (*.pub: the agent's matching key), or a private key file.
 */
export async function openSshSigner(spec: string, env: NodeJS.ProcessEnv = process.env): Promise<SshSigner> {
  if (spec === 'agent') {
    const agent = await SshAgent.connect(env.SSH_AUTH_SOCK);
    try {
      const ids = await agent.identities();
      for (const id of ids) {
        const key = parseSshKeyBlob(id.blob, id.comment);
        if (typeof key !== 'string') return agentSigner(agent, key);
      }
      throw new UsageError(
        ids.length === 0
          ? 'ssh-agent holds no key; add one with ssh-add'
          : `ssh-agent holds no key of a supported type (${SSH_KEY_TYPES.join(', ')}; RSA at least 2048 bits)`,
      );
    } catch (err) {
      agent.close();
      throw err;
    }
  }
  if (spec.endsWith('.pub')) {
    const line = readSmall(spec, 'public key file')
      .split('\n')
      .find((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    const key = parseAuthorizedKey(line ?? '');
    if (typeof key === 'string') throw new UsageError(`${spec}: ${key}`);
    const agent = await SshAgent.connect(env.SSH_AUTH_SOCK);
    try {
      const ids = await agent.identities();
      if (!ids.some((id) => Buffer.from(id.blob).equals(key.blob)))
        throw new UsageError(
          `the key of ${spec} (${key.fingerprint}) is not in ssh-agent; add it: ssh-add ${spec.slice(0, -4)}  (or pass the private key file)`,
        );
      return agentSigner(agent, key);
    } catch (err) {
      agent.close();
      throw err;
    }
  }
  const local = loadPrivateSshKey(spec, readSmall(spec, 'private key file'));
  return { key: local.pub, via: spec, sign: (data) => Promise.resolve(local.sign(data)), close: () => undefined };
}

/** Builds the packet for `fields` (the timestamp taken now), has it signed, and sends it. */
export async function sendSshKnock(
  signer: SshSigner,
  serverPublic: Uint8Array,
  fields: Omit<KnockFields, 'timestampMs'>,
  target: KnockTarget,
  send: DatagramSender = sendDatagram,
): Promise<SentKnock> {
  const { address, family } = await resolveHost(target.host, target.family);
  checkAllowIp(fields.allowIp, address);
  const ephemeralPrivate = secureRandomBytes(32);
  const unsigned = sshUnsignedPacket({
    fields: { ...fields, timestampMs: Date.now() },
    serverPublic,
    ephemeralPrivate,
    keyBlob: signer.key.blob,
  });
  ephemeralPrivate.fill(0);
  const signature = await signer.sign(sshDataToSign(unsigned));
  let packet: Uint8Array;
  try {
    packet = sshFinishPacket(unsigned, signer.key, signature);
  } catch (err) {
    throw new UsageError(`${signer.via} returned a signature that does not fit ${signer.key.fingerprint}: ${(err as Error).message}`);
  }
  await send(packet, address, family, target.spaPort).catch((err: unknown) => {
    throw err instanceof Error && !('code' in err) ? err : new Error(sendFailure(address, 'udp', target.spaPort, err));
  });
  return { address, family, packet };
}
