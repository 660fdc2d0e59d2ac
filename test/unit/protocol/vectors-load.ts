/**
 * Loads test/vectors/protocol-v1.json for the vector tests (not a test file). Reads the JSON itself,
 * never the generator, so a change in the code cannot silently change what the vectors expect.
 * @module
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Action, PortSpec } from '../../../src/protocol/index.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const VECTORS_PATH = fileURLToPath(new URL('test/vectors/protocol-v1.json', `file://${REPO_ROOT}`));

export interface VectorJson {
  readonly name: string;
  readonly secret: string;
  readonly keyId: string;
  readonly nonce: string;
  readonly serverId: string;
  readonly timestampMs: number;
  readonly action: Action;
  readonly ports: readonly PortSpec[];
  readonly allowIp: string | null;
  readonly durationSec: number;
  readonly encKey: string;
  readonly macKey: string;
  readonly serverTag: string;
  readonly body: string;
  readonly packet: string;
}

export function loadVectors(): readonly VectorJson[] {
  const doc = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { vectors?: unknown };
  if (!Array.isArray(doc.vectors) || doc.vectors.length < 4) throw new Error(`${VECTORS_PATH}: expected at least 4 vectors`);
  return doc.vectors as VectorJson[];
}
