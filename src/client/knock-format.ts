/**
 * Which packet format `knockspa open` sends (--format), checked against the other options. Kept
 * apart from fwknop-knock.ts so that a knockspa knock does not load the fwknop code (start-up
 * time is module loading).
 * @module
 */
import { UsageError } from '../shared/errors.js';

export type KnockFormat = 'knockspa' | 'fwknop';

export interface FwknopKnockOptions {
  readonly key?: string;
  readonly serverId?: string;
  readonly fwknopKeyBase64?: string;
  readonly fwknopHmacKeyBase64?: string;
  readonly fwknopUser?: string;
}

const FWKNOP_FLAGS = [
  ['fwknopKeyBase64', '--fwknop-key-base64'],
  ['fwknopHmacKeyBase64', '--fwknop-hmac-key-base64'],
  ['fwknopUser', '--fwknop-user'],
] as const;

/** --format, checked against the other options: fwknop flags without --format fwknop are a mistake. */
export function knockFormat(opts: FwknopKnockOptions & { readonly format?: string }): KnockFormat {
  const format = opts.format ?? 'knockspa';
  if (format !== 'knockspa' && format !== 'fwknop')
    throw new UsageError(`--format: expected knockspa or fwknop, got ${JSON.stringify(format)}`);
  const stray = FWKNOP_FLAGS.find(([field]) => format === 'knockspa' && opts[field] !== undefined);
  if (stray !== undefined) throw new UsageError(`${stray[1]} is for fwknop packets; add --format fwknop`);
  return format;
}
