/**
 * iptables text of the kernel screen (screen.ts): rules at the top of the KNOCKSPA chain that drop
 * on the SPA port what cannot be a knock by its UDP length and first byte (`-m u32`; key ids stay
 * the daemon's: iptables has no set lookup on payload bytes). The lengths are the UDP header's
 * length field, as nft's `udp length` (`-m length` would count the IP header, whose size varies
 * with IPv4 options). IPv6 is read at fixed offsets, only where UDP follows the fixed header
 * directly (a packet with extension headers passes to the daemon's own screen). Each rule's
 * comment names its reason and a digest of the whole screen: an unchanged screen is left as it is
 * (its counters with it). Pure.
 * @module
 */
import { createHash } from 'node:crypto';
import {
  magicTests,
  SCREEN_REASONS,
  udpLengths,
  type KernelScreen,
  type ScreenCounters,
  type ScreenReason,
  type UdpLengths,
} from './screen.js';

const COMMENT = 'knockspa screen';

/** u32 locations of the UDP length field and the payload's first byte, per family. */
const FIELDS = {
  4: { guard: [], length: '0>>22&0x3C@4>>16', first: '0>>22&0x3C@8>>24' },
  // Next header (byte 6) is UDP: then the UDP header sits right after the 40-byte fixed header.
  6: { guard: ['-m', 'u32', '--u32', '4>>8&0xFF=17'], length: '44>>16', first: '48>>24' },
} as const;

function range(r: UdpLengths): string {
  return r.min === r.max ? `${r.min}` : `${r.min}:${r.max}`;
}

function hex(b: number): string {
  return `0x${b.toString(16)}`;
}

/** The screen's rules for one family: the words after `-A KNOCKSPA`, with `tag` in each comment. */
export function screenRules(screen: KernelScreen, family: 4 | 6, tag = screenTag(screen)): string[][] {
  const f = FIELDS[family];
  const on = ['-p', 'udp', '-m', 'udp', '--dport', String(screen.port), ...f.guard];
  const drop = (reason: ScreenReason): string[] => ['-m', 'comment', '--comment', `${COMMENT} ${reason} ${tag}`, '-j', 'DROP'];
  return [
    [...on, '-m', 'u32', '!', '--u32', `${f.length}=${udpLengths(screen).map(range).join(',')}`, ...drop('length')],
    ...magicTests(screen).map((m) => [
      ...on,
      '-m',
      'u32',
      '--u32',
      `${f.length}=${range(m.lengths)}`,
      '-m',
      'u32',
      '!',
      '--u32',
      `${f.first}=${m.magics.map(hex).join(',')}`,
      ...drop('magic'),
    ]),
  ];
}

/** What the rules depend on (port, lengths, magics: not the key ids), for telling a changed screen. */
export function screenTag(screen: KernelScreen): string {
  const what = JSON.stringify([screen.port, udpLengths(screen), magicTests(screen)]);
  return createHash('sha256').update(what).digest('hex').slice(0, 12);
}

/** One `iptables -S` line's words back (quotes as iptables prints them). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? (m[2] as string));
}

/** A screen rule in an `iptables -S KNOCKSPA` line: its reason and tag, the words after `-A KNOCKSPA`. */
export function parseScreenRule(line: string): { reason: ScreenReason; tag: string; words: string[] } | null {
  const m = /--comment "?knockspa screen (\w+) ([0-9a-f]+)"?/.exec(line);
  const reason = SCREEN_REASONS.find((r) => r === m?.[1]);
  if (m === null || reason === undefined || !line.startsWith('-A KNOCKSPA ')) return null;
  const rest = words(line).slice(2);
  // -v listings carry "-c PACKETS BYTES": not part of the rule.
  const c = rest.indexOf('-c');
  if (c >= 0) rest.splice(c, 3);
  return { reason, tag: m[2] as string, words: rest };
}

/** Packets per reason in `iptables -v -S KNOCKSPA` listings (one per family), summed; null without screen rules. */
export function parseScreenCounters(listings: readonly string[]): ScreenCounters | null {
  const counters: Record<ScreenReason, number> = { length: 0, magic: 0, key_id: 0 };
  let found = false;
  for (const line of listings.flatMap((l) => l.split('\n'))) {
    const rule = parseScreenRule(line.trim());
    const packets = /\s-c (\d+) \d+/.exec(line)?.[1];
    if (rule === null || packets === undefined) continue;
    counters[rule.reason] += Number(packets);
    found = true;
  }
  return found ? counters : null;
}

/** One iptables-restore line: words with spaces or shell-ish characters quoted. */
export function restoreLine(op: string, chain: string, ruleWords: readonly string[]): string {
  return [op, chain, ...ruleWords].map((w) => (/[\s"'!&>@]/.test(w) && w !== '!' ? `"${w}"` : w)).join(' ');
}
