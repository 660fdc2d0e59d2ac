/**
 * The line-oriented files of docs/protocol.md (user key file, server key file): a header line,
 * then `field: value` lines, each field once; blank lines and `#` comments pass. One reader for
 * both, so they refuse alike. Errors name the line; an unknown field name is shown only if short.
 * @module
 */
import { KeyFileError } from './keyfile-error.js';

export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;

export interface FieldLinesSpec<F extends string> {
  readonly header: string;
  /** What the file is: "key file"; and for the error on a wrong header, "a knockspa v1 key file". */
  readonly name: string;
  readonly what: string;
  readonly fields: readonly F[];
  /** Checks one value where it stands, so its error names its line; throws KeyFileError. */
  readonly check: (field: F, value: string, line: number) => void;
}

/** Every field with its value and line; throws KeyFileError on the first fault, or on a missing field. */
export function readFieldLines<F extends string>(text: string, spec: FieldLinesSpec<F>): ReadonlyMap<F, string> {
  const seen = new Map<F, { value: string; line: number }>();
  let headerSeen = false;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = (lines[i] as string).replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!headerSeen) {
      if (line !== spec.header) throw new KeyFileError(lineNo, `expected "${spec.header}" (this is not ${spec.what})`);
      headerSeen = true;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) throw new KeyFileError(lineNo, 'expected "field: value"');
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!(spec.fields as readonly string[]).includes(name))
      throw new KeyFileError(
        lineNo,
        `unknown field ${name.length <= 32 ? JSON.stringify(name) : `of ${name.length} characters`}; expected one of ${spec.fields.join(', ')}`,
      );
    const field = name as F;
    const first = seen.get(field);
    if (first !== undefined) throw new KeyFileError(lineNo, `${field}: given twice (first on line ${first.line})`);
    spec.check(field, value, lineNo);
    seen.set(field, { value, line: lineNo });
  }
  if (!headerSeen) throw new KeyFileError(0, `empty ${spec.name}: expected "${spec.header}" and the fields ${spec.fields.join(', ')}`);
  const values = new Map<F, string>();
  for (const field of spec.fields) {
    const entry = seen.get(field);
    if (entry === undefined) throw new KeyFileError(0, `missing field "${field}"`);
    values.set(field, entry.value);
  }
  return values;
}
