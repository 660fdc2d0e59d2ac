/**
 * The kernel screen of the SPA port: what a datagram must look like to be worth the daemon's time
 * (its UDP length, first byte, key id). Backends that can (capabilities.screensSpaPort) drop the
 * rest before the socket; pcap mode puts the same in its capture filter. Pure.
 * The daemon's own screen (intake/formats.ts) stays: this only spares it the junk.
 * @module
 */
import { KEY_ID_SIZE, MAGIC, OFF_KEY_ID, PACKET_SIZE } from '../../protocol/constants.js';
import { MAX_PACKET_LENGTH as FWKNOP_MAX, MIN_PACKET_LENGTH as FWKNOP_MIN } from '../../protocol/fwknop/constants.js';
import { SSH_MAGIC } from '../../protocol/ssh/constants.js';
import { SSH_MAX_PACKET, SSH_MIN_PACKET } from '../../protocol/ssh/packet.js';

/** UDP header: the UDP length field counts it, payload offsets start after it. */
export const UDP_HEADER_SIZE = 8;

export interface KernelScreen {
  readonly port: number;
  /** Payload length of every knockspa packet. */
  readonly size: number;
  readonly magic: number;
  /** Where the key id is in the payload, and how long it is (bytes). */
  readonly keyIdOffset: number;
  readonly keyIdSize: number;
  /** The keyring's key ids, lower-case hex, sorted. */
  readonly keyIds: readonly string[];
  /** Payload lengths let through as fwknop packets (no magic, no key id), or null without fwknop users. */
  readonly fwknop: { readonly min: number; readonly max: number } | null;
  /**
   * SSH-key knocks (users with SSH keys): their magic and the payload length of each key type in
   * use; their candidate ids are in keyIds, at the same offset. Null without such users.
   */
  readonly ssh: { readonly magic: number; readonly sizes: readonly number[] } | null;
}

/** Why the kernel dropped a datagram; one counter each. */
export const SCREEN_REASONS = ['length', 'magic', 'key_id'] as const;
export type ScreenReason = (typeof SCREEN_REASONS)[number];
/** Datagrams dropped per reason since the screen was put in place. */
export type ScreenCounters = Readonly<Record<ScreenReason, number>>;

export function kernelScreen(
  port: number,
  keyIds: Iterable<string>,
  fwknopUsers: boolean,
  sshSizes: readonly number[] | null = null,
): KernelScreen {
  return {
    port,
    size: PACKET_SIZE,
    magic: MAGIC,
    keyIdOffset: OFF_KEY_ID,
    keyIdSize: KEY_ID_SIZE,
    keyIds: [...new Set([...keyIds].map((k) => k.toLowerCase()))].sort(),
    fwknop: fwknopUsers ? { min: FWKNOP_MIN, max: FWKNOP_MAX } : null,
    ssh: sshSizes === null ? null : { magic: SSH_MAGIC, sizes: [...new Set(sshSizes)].sort((a, b) => a - b) },
  };
}

/**
 * The capture filter for pcap mode: the port, and what the kernel's BPF can check without a set
 * (length and magic; key ids are the daemon's). libpcap's `udp[...]` reads IPv4 only; IPv6 is read
 * at fixed offsets (no extension headers, which frame.ts drops anyway).
 */
export function captureFilter(port: number, screen: KernelScreen | null): string {
  const plain = `udp dst port ${port}`;
  if (screen === null) return plain;
  const v4 = ['ip', plain, ...screenTests('udp[4:2]', 'udp[8]', screen)];
  const v6Udp = 40; // the fixed header; UDP right after it (ip6[6], next header, is 17)
  const v6 = ['ip6', plain, 'ip6[6] = 17', ...screenTests(`ip6[${v6Udp + 4}:2]`, `ip6[${v6Udp + 8}]`, screen)];
  return `(${v4.join(' and ')}) or (${v6.join(' and ')})`;
}

function screenTests(lengthField: string, firstByte: string, screen: KernelScreen): string[] {
  let knockspa = `(${lengthField} = ${screen.size + UDP_HEADER_SIZE} and ${firstByte} = 0x${screen.magic.toString(16)})`;
  // The filter is set at start: SSH keys added on reload may be of any type, so any SSH length passes.
  if (screen.ssh !== null)
    knockspa = `(${knockspa} or (${lengthField} >= ${SSH_MIN_PACKET + UDP_HEADER_SIZE} and ${lengthField} <= ${SSH_MAX_PACKET + UDP_HEADER_SIZE} and ${firstByte} = 0x${screen.ssh.magic.toString(16)}))`;
  if (screen.fwknop === null) return [knockspa];
  const { min, max } = screen.fwknop;
  return [`(${knockspa} or (${lengthField} >= ${min + UDP_HEADER_SIZE} and ${lengthField} <= ${max + UDP_HEADER_SIZE}))`];
}
