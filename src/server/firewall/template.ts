/**
 * knockd-style command templates for the `command` backend:
 * `/usr/sbin/iptables -I INPUT -s %IP% -p %PROTO% --dport %PORT% -j ACCEPT`.
 * A template is split into words once, when the config is read (whitespace separates words,
 * '...' and "..." group them, nothing else is special); placeholders are then filled word by
 * word, so a value can never become a second word or reach a shell.
 * @module
 */

export const PLACEHOLDERS = ['IP', 'PROTO', 'PORT', 'USER', 'DURATION'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type TemplateValues = Readonly<Record<Placeholder, string>>;

export interface CommandTemplate {
  /** The words, placeholders still in them; the first is an absolute path. */
  readonly words: readonly string[];
}

const PLACEHOLDER = /%([A-Z]+)%/g;

/** Splits on whitespace outside quotes; a quote groups up to its twin. Returns an error text on failure. */
export function splitWords(text: string): string[] | string {
  const words: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (const ch of text) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      word ??= '';
    } else if (/\s/.test(ch)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (quote !== null) return `an unterminated ${quote} quote`;
  if (word !== null) words.push(word);
  return words;
}

/** Parses a template; returns what is wrong with it as text (for a ConfigError). */
export function parseTemplate(text: string): CommandTemplate | string {
  const words = splitWords(text);
  if (typeof words === 'string') return words;
  const [program] = words;
  if (program === undefined) return 'a command, not an empty string';
  if (!program.startsWith('/')) return `the program as an absolute path (no PATH lookup), not ${JSON.stringify(program)}`;
  if (program.includes('%')) return 'the program without placeholders';
  for (const word of words) {
    for (const m of word.matchAll(PLACEHOLDER)) {
      if (!(PLACEHOLDERS as readonly string[]).includes(m[1] as string))
        return `only the placeholders ${PLACEHOLDERS.map((p) => `%${p}%`).join(' ')}, not %${m[1]}%`;
    }
  }
  return { words };
}

/** The argv for one change: each placeholder replaced by its (already validated) value. */
export function expandTemplate(template: CommandTemplate, values: TemplateValues): string[] {
  return template.words.map((word) =>
    word.replace(PLACEHOLDER, (whole, name: string) => (values as Record<string, string>)[name] ?? whole),
  );
}
