/**
 * The comment knockspa puts on every rule or set element it adds:
 * "knockspa GRANT-ID until DEADLINE", the grant id being USER@IP/PROTO/PORT and DEADLINE in Unix
 * seconds. A restarted daemon finds its own entries by it, and their owner and deadline, even when
 * its state file is lost. Entries without it (or whose id names another rule) are never touched.
 * @module
 */
import { canonicalIp } from '../../protocol/address.js';
import { USER_NAME } from '../../protocol/keys.js';
import type { Entry, Rule } from './firewall.js';

const COMMENT = /^knockspa ([^@\s]+)@(\S+)\/(tcp|udp)\/(\d{1,5}) until (\d{1,12})$/;

export function grantId(entry: Pick<Entry, 'user' | 'ip' | 'proto' | 'port'>): string {
  return `${entry.user}@${entry.ip}/${entry.proto}/${entry.port}`;
}

export function entryComment(entry: Entry): string {
  return `knockspa ${grantId(entry)} until ${Math.ceil(entry.deadlineMs / 1000)}`;
}

/** The owner and deadline of a knockspa comment on `rule`, or null if it is not one or names another rule. */
export function parseComment(text: string, rule: Omit<Rule, 'family'>): { user: string; deadlineMs: number } | null {
  const m = COMMENT.exec(text);
  if (m === null || !USER_NAME.test(m[1] as string)) return null;
  const sameRule = canonicalIp(m[2] as string) === canonicalIp(rule.ip) && m[3] === rule.proto && Number(m[4]) === rule.port;
  return sameRule ? { user: m[1] as string, deadlineMs: Number(m[5]) * 1000 } : null;
}
