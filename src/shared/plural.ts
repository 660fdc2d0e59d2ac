/**
 * Counts in messages: "1 user", "2 users".
 * @module
 */

/** `count` and the noun, plural unless the count is 1 (`plural` for irregular nouns). */
export function counted(count: number, noun: string, plural = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : plural}`;
}
