/**
 * Loads test/vectors/protocol-v1.json for the vector tests (not a test file). Reads the JSON itself,
 * never the generator, so a change in the code cannot silently change what the vectors expect.
 * @module
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Vector } from '../../vectors/generate.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const VECTORS_PATH = fileURLToPath(new URL('test/vectors/protocol-v1.json', `file://${REPO_ROOT}`));

/** The generator's type only (erased at build): the data always comes from the JSON file. */
export type VectorJson = Vector;

export function loadVectors(): readonly VectorJson[] {
  const doc = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { vectors?: unknown };
  if (!Array.isArray(doc.vectors) || doc.vectors.length < 4) throw new Error(`${VECTORS_PATH}: expected at least 4 vectors`);
  return doc.vectors as VectorJson[];
}
