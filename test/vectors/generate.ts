/**
 * Generates test/vectors/protocol-v1.json, the knockspa v1 test vectors, from fixed inputs.
 *   node dist/test/vectors/generate.js             write the file
 *   node dist/test/vectors/generate.js --check     exit 1 if the file differs from what would be written
 *   node dist/test/vectors/generate.js --markdown  print the "Test vectors" section for docs/protocol.md
 * Under `node --test` (NODE_TEST_CONTEXT set) it runs as --check and never writes.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { xchacha20 } from '@noble/ciphers/chacha.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { deriveKeys, sealPacket, serverTag, type Action, type PortSpec, type UserKey } from '../../src/protocol/index.js';
import { BODY_SIZE, OFF_BODY, OFF_NONCE, OFF_TAG } from '../../src/protocol/constants.js';

export const VECTORS_FILE = fileURLToPath(new URL('../../../test/vectors/protocol-v1.json', import.meta.url));

export interface VectorInput {
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
}

export interface Vector extends VectorInput {
  /** Intermediate values, for implementers debugging their own code. */
  readonly encKey: string;
  readonly macKey: string;
  readonly serverTag: string;
  readonly body: string;
  /** The whole 146-byte packet. */
  readonly packet: string;
}

export const INPUTS: readonly VectorInput[] = [
  {
    name: 'open tcp/22 for the source address',
    secret: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    keyId: '0102030405060708',
    nonce: '404142434445464748494a4b4c4d4e4f5051525354555657',
    serverId: 'spa.example.net',
    timestampMs: 1735689600000, // 2025-01-01T00:00:00.000Z
    action: 'open',
    ports: [{ proto: 'tcp', port: 22 }],
    allowIp: null,
    durationSec: 0,
  },
  {
    name: 'open tcp/22, tcp/443 and udp/53 for an IPv4 address, one hour',
    secret: 'c0ffee00c0ffee01c0ffee02c0ffee03c0ffee04c0ffee05c0ffee06c0ffee07',
    keyId: 'a1b2c3d4e5f60718',
    nonce: '000000000000000000000000000000000000000000000001',
    serverId: 'gw1.example.org',
    timestampMs: 1750000000123,
    action: 'open',
    ports: [
      { proto: 'tcp', port: 22 },
      { proto: 'tcp', port: 443 },
      { proto: 'udp', port: 53 },
    ],
    allowIp: '203.0.113.7',
    durationSec: 3600,
  },
  {
    name: 'open udp/51820 and tcp/8443 for an IPv6 address, one day (the maximum)',
    secret: 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100',
    keyId: 'fedcba9876543210',
    nonce: 'f0e1d2c3b4a5968778695a4b3c2d1e0f0102030405060708',
    serverId: 'vpn.example.com',
    timestampMs: 1767225599999, // 2025-12-31T23:59:59.999Z
    action: 'open',
    ports: [
      { proto: 'udp', port: 51820 },
      { proto: 'tcp', port: 8443 },
    ],
    allowIp: '2001:db8:85a3::8a2e:370:7334',
    durationSec: 86400,
  },
  {
    name: 'close tcp/22 for an IPv4 address',
    secret: '5a'.repeat(32),
    keyId: '0000000000000001',
    nonce: 'ffffffffffffffffffffffffffffffffffffffffffffffff',
    serverId: 'spa.example.net',
    timestampMs: 1735693200000,
    action: 'close',
    ports: [{ proto: 'tcp', port: 22 }],
    allowIp: '198.51.100.23',
    durationSec: 0,
  },
  {
    name: 'open eight ports, tcp and udp mixed, for the source address, one second',
    secret: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    keyId: '8000000000000000',
    nonce: '0123456789abcdef0123456789abcdef0123456789abcdef',
    serverId: 'host-1.internal:62201',
    timestampMs: 1700000000000,
    action: 'open',
    ports: [
      { proto: 'tcp', port: 1 },
      { proto: 'udp', port: 1 },
      { proto: 'tcp', port: 80 },
      { proto: 'udp', port: 123 },
      { proto: 'tcp', port: 443 },
      { proto: 'udp', port: 443 },
      { proto: 'tcp', port: 65535 },
      { proto: 'udp', port: 65535 },
    ],
    allowIp: null,
    durationSec: 1,
  },
];

export function buildVector(input: VectorInput): Vector {
  const key: UserKey = {
    user: 'vector',
    keyId: hexToBytes(input.keyId),
    serverId: input.serverId,
    secret: hexToBytes(input.secret),
    created: '2025-01-01T00:00:00Z',
  };
  const { timestampMs, action, ports, allowIp, durationSec } = input;
  const packet = sealPacket(key, { timestampMs, action, ports, allowIp, durationSec }, hexToBytes(input.nonce));
  const { encKey, macKey } = deriveKeys(key.secret);
  const body = xchacha20(encKey, packet.subarray(OFF_NONCE, OFF_BODY), packet.subarray(OFF_BODY, OFF_TAG));
  if (body.length !== BODY_SIZE) throw new Error('unexpected body size');
  return {
    ...input,
    encKey: bytesToHex(encKey),
    macKey: bytesToHex(macKey),
    serverTag: bytesToHex(serverTag(input.serverId)),
    body: bytesToHex(body),
    packet: bytesToHex(packet),
  };
}

export function vectorsJson(): string {
  const doc = {
    protocol: 'knockspa v1',
    description:
      'Test vectors: sealPacket(key{secret, keyId}, fields, nonce, serverId) must produce `packet` byte for byte. ' +
      'encKey/macKey are HKDF-SHA256 outputs, serverTag the 16-byte server tag, body the 80-byte plaintext body. ' +
      'Regenerate with `node dist/test/vectors/generate.js`.',
    vectors: INPUTS.map(buildVector),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function wrap(hex: string, width = 64): string[] {
  const lines: string[] = [];
  for (let i = 0; i < hex.length; i += width) lines.push(hex.slice(i, i + width));
  return lines;
}

const portsText = (ports: readonly PortSpec[]): string => ports.map((p) => `${p.proto}/${p.port}`).join(', ');

/** The vectors as markdown, to replace the VECTORS-PLACEHOLDER line of docs/protocol.md §7 (no heading of its own). */
export function vectorsMarkdown(): string {
  const out: string[] = [
    'Each vector is the packet an implementation must produce from those inputs, byte for byte; a verifier',
    'holding that key, for that server id, with a clock near the timestamp accepts it and returns exactly',
    'those fields. The JSON file also lists the derived keys, the server tag and the plaintext body.',
  ];
  INPUTS.map(buildVector).forEach((v, i) => {
    out.push(
      '',
      `**Vector ${i + 1}**: ${v.name}`,
      '',
      '```',
      `secret     ${v.secret}`,
      `key id     ${v.keyId}`,
      `nonce      ${v.nonce}`,
      `server id  ${v.serverId}`,
      `timestamp  ${v.timestampMs} (${new Date(v.timestampMs).toISOString()})`,
      `action     ${v.action}`,
      `ports      ${portsText(v.ports)}`,
      `allow ip   ${v.allowIp ?? '(source address)'}`,
      `duration   ${v.durationSec}`,
      '',
      'packet (146 bytes):',
      ...wrap(v.packet),
      '```',
    );
  });
  return `${out.join('\n')}\n`;
}

function main(argv: readonly string[]): number {
  const json = vectorsJson();
  if (argv.includes('--markdown')) {
    process.stdout.write(vectorsMarkdown());
    return 0;
  }
  if (argv.includes('--check') || process.env['NODE_TEST_CONTEXT'] !== undefined) {
    let current = '';
    try {
      current = readFileSync(VECTORS_FILE, 'utf8');
    } catch {
      // fall through: missing counts as different
    }
    if (current === json) {
      process.stdout.write(`${VECTORS_FILE} is up to date\n`);
      return 0;
    }
    process.stderr.write(`${VECTORS_FILE} differs from the generated vectors; run node dist/test/vectors/generate.js\n`);
    return 1;
  }
  writeFileSync(VECTORS_FILE, json);
  process.stdout.write(`wrote ${INPUTS.length} vectors to ${VECTORS_FILE}\n`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
