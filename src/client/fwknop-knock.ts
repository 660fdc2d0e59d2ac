/**
 * `knockspa open --format fwknop`: one fwknop SPA packet (Rijndael + HMAC-SHA256, what a stock
 * fwknopd 2.5+ accepts) instead of a knockspa one. The options that only make sense for knockspa
 * packets, or that fwknop cannot carry, are usage errors that say why.
 * @module
 */
import { userInfo } from 'node:os';
import type { Action } from '../protocol/body.js';
import { FKO_VERSION, MAX_CLIENT_TIMEOUT_SEC } from '../protocol/fwknop/constants.js';
import { parseKeyPair } from '../protocol/fwknop/keys.js';
import { isValidUsername } from '../protocol/fwknop/message.js';
import { randomValueFrom, sealFwknopPacket } from '../protocol/fwknop/packet.js';
import type { PortSpec } from '../protocol/ports.js';
import { checkAllowIp } from './allow-ip.js';
import { UsageError } from '../shared/errors.js';
import { resolveHost, type KnockTarget, type SentKnock } from './knock.js';
import { sendFailure } from './net-words.js';
import { sendDatagram } from './udp-send.js';
import type { FwknopKnockOptions } from './knock-format.js';
import { secureRandomBytes } from './random.js';

/** The user name field: --fwknop-user, else the login name (as fwknop sends it). */
function usernameField(explicit: string | undefined): string {
  let name = explicit;
  if (name === undefined) {
    try {
      name = userInfo().username;
    } catch {
      name = 'knockspa';
    }
  }
  if (!isValidUsername(name))
    throw new UsageError(
      `--fwknop-user: expected 1 to 48 printable characters other than " / \\ [ ] : ; | = , + * ? < >, got ${JSON.stringify(name)}; pass --fwknop-user NAME`,
    );
  return name;
}

/** Checks the fwknop options and sends the packet; the keys never appear in a message. */
export async function sendFwknopKnock(
  action: Action,
  knock: { readonly ports: readonly PortSpec[]; readonly allowIp: string | null; readonly durationSec: number },
  target: KnockTarget,
  opts: FwknopKnockOptions,
): Promise<SentKnock & { readonly user: string }> {
  if (action === 'close') throw new UsageError('--format fwknop: fwknop has no close message; its grants end when their time is up');
  if (opts.key !== undefined || opts.serverId !== undefined)
    throw new UsageError(
      '--format fwknop: --key and --server-id are for knockspa packets; fwknop takes --fwknop-key-base64 and --fwknop-hmac-key-base64',
    );
  if (opts.fwknopKeyBase64 === undefined || opts.fwknopHmacKeyBase64 === undefined)
    throw new UsageError(
      '--format fwknop: pass --fwknop-key-base64 and --fwknop-hmac-key-base64 (the KEY_BASE64 and HMAC_KEY_BASE64 that fwknop --key-gen prints)',
    );
  const keys = parseKeyPair(opts.fwknopKeyBase64, opts.fwknopHmacKeyBase64);
  if (typeof keys === 'string') throw new UsageError(`--fwknop-key-base64/--fwknop-hmac-key-base64: ${keys}`);
  if (knock.allowIp !== null && knock.allowIp.includes(':')) throw new UsageError('--allow-ip: fwknop packets carry IPv4 addresses only');
  if (knock.durationSec > MAX_CLIENT_TIMEOUT_SEC)
    throw new UsageError(`--duration: fwknop carries at most ${MAX_CLIENT_TIMEOUT_SEC} seconds`);
  const user = usernameField(opts.fwknopUser);
  const { address, family } = await resolveHost(target.host, target.family);
  checkAllowIp(knock.allowIp, address);
  const wire = sealFwknopPacket(
    keys,
    {
      randomValue: randomValueFrom(secureRandomBytes(8)),
      username: user,
      timestampSec: Math.floor(Date.now() / 1000),
      version: FKO_VERSION,
      allowIp: knock.allowIp,
      ports: knock.ports,
      clientTimeoutSec: knock.durationSec,
      digest: 'sha256',
    },
    secureRandomBytes(8),
  );
  keys.encKey.fill(0);
  keys.hmacKey.fill(0);
  const packet = new TextEncoder().encode(wire);
  await sendDatagram(packet, address, family, target.spaPort).catch((err: unknown) => {
    throw new Error(sendFailure(address, 'udp', target.spaPort, err));
  });
  return { address, family, packet, user };
}
