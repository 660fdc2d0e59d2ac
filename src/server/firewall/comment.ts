/**
 * The comment knockspa puts on every rule or set element it adds, "knockspa USER until DEADLINE"
 * (DEADLINE in Unix seconds): a restarted daemon finds its own entries by it, and their owner and
 * deadline, even when its state file is lost. Entries without it are never touched.
 * @module
 */
import { USER_NAME } from '../../protocol/keys.js';
import type { Entry } from './firewall.js';

const COMMENT = /^knockspa (\S+) until (\d{1,12})$/;

export function entryComment(entry: Pick<Entry, 'user' | 'deadlineMs'>): string {
  return `knockspa ${entry.user} until ${Math.ceil(entry.deadlineMs / 1000)}`;
}

/** The owner and deadline a knockspa comment carries, or null if it is not one. */
export function parseComment(text: string): { user: string; deadlineMs: number } | null {
  const m = COMMENT.exec(text);
  if (m === null || !USER_NAME.test(m[1] as string)) return null;
  return { user: m[1] as string, deadlineMs: Number(m[2]) * 1000 };
}
