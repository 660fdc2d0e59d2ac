/**
 * Writes test/vectors/fwknop-client.json: packets made by the real fwknop client (Debian's
 * fwknop-client 2.6.10), with the keys that made them and what the client itself printed about
 * them (`--test -v`), so our decoder is checked against fwknop, not against our own encoder.
 *   node dist/test/vectors/fwknop-client-generate.js     (needs /usr/bin/fwknop; keeps the keys in the file)
 * A dev tool, not a test: the JSON is committed and read by test/unit/fwknop/client-vectors.test.ts.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FWKNOP_VECTORS_FILE = fileURLToPath(new URL('../../../test/vectors/fwknop-client.json', import.meta.url));

export interface FwknopClientCase {
  readonly name: string;
  /** fwknop arguments besides the keys and the fixed ones (--no-rc-file --no-save-args --test -v -D). */
  readonly args: readonly string[];
  /** Leave out --use-hmac (a packet with no HMAC at all). */
  readonly noHmac?: boolean;
  /** Expected verdict: accepted with these fields, or refused with one of these reasons. */
  readonly expect: 'accept' | readonly string[];
}

/** What the client printed about the packet (its "SPA Field Values" dump). */
export interface FwknopClientDump {
  readonly randomValue: string;
  readonly username: string;
  readonly timestampSec: number;
  readonly messageType: number;
  readonly message: string;
  readonly clientTimeoutSec: number;
  readonly digestType: string;
  readonly hmacType: string;
}

export interface FwknopClientVector extends FwknopClientCase {
  readonly argv: readonly string[];
  readonly dump: FwknopClientDump;
  /** The wire text (what fwknop sends as the UDP payload). */
  readonly packet: string;
}

export interface FwknopClientVectors {
  readonly generatedBy: string;
  readonly keyBase64: string;
  readonly hmacKeyBase64: string;
  readonly vectors: readonly FwknopClientVector[];
}

export const CASES: readonly FwknopClientCase[] = [
  {
    name: 'access tcp/22 for an address (the defaults: SHA-256 digest, HMAC-SHA256, CBC)',
    args: ['-A', 'tcp/22', '-a', '198.51.100.7'],
    expect: 'accept',
  },
  { name: 'access for the source address (-s), tcp and udp', args: ['-A', 'tcp/22,udp/53', '-s'], expect: 'accept' },
  { name: 'client timeout (message type 3)', args: ['-A', 'tcp/2222', '-a', '203.0.113.9', '-f', '120'], expect: 'accept' },
  { name: 'user name field set with -U', args: ['-A', 'tcp/22', '-a', '198.51.100.7', '-U', 'deploy-bot'], expect: 'accept' },
  { name: 'MD5 inner digest', args: ['-A', 'tcp/22', '-a', '198.51.100.7', '-m', 'md5'], expect: 'accept' },
  { name: 'SHA-1 inner digest', args: ['-A', 'tcp/22', '-a', '198.51.100.7', '-m', 'sha1'], expect: 'accept' },
  { name: 'SHA-384 inner digest', args: ['-A', 'tcp/22', '-a', '198.51.100.7', '-m', 'sha384'], expect: 'accept' },
  { name: 'SHA-512 inner digest', args: ['-A', 'tcp/22', '-a', '198.51.100.7', '-m', 'sha512'], expect: 'accept' },
  { name: 'command message (-C)', args: ['-C', 'uname', '-a', '198.51.100.7'], expect: ['fwknop-command-refused'] },
  { name: 'NAT access (-N)', args: ['-A', 'tcp/22', '-a', '198.51.100.7', '-N', '10.0.0.5:22'], expect: ['fwknop-nat-refused'] },
  { name: 'local NAT access (--nat-local)', args: ['-A', 'tcp/22', '-a', '198.51.100.7', '--nat-local'], expect: ['fwknop-nat-refused'] },
  {
    name: 'NAT access with a client timeout',
    args: ['-A', 'tcp/22', '-a', '198.51.100.7', '-N', '10.0.0.5:22', '-f', '60'],
    expect: ['fwknop-nat-refused'],
  },
  {
    name: 'HMAC-SHA512 instead of HMAC-SHA256',
    args: ['-A', 'tcp/22', '-a', '198.51.100.7', '--hmac-digest-type', 'sha512'],
    expect: ['fwknop-bad-mac'],
  },
  {
    name: 'no HMAC at all',
    args: ['-A', 'tcp/22', '-a', '198.51.100.7'],
    noHmac: true,
    expect: ['fwknop-no-mac'],
  },
  {
    name: 'legacy IV mode, no HMAC (-M legacy)',
    args: ['-A', 'tcp/22', '-a', '198.51.100.7', '-M', 'legacy'],
    noHmac: true,
    expect: ['fwknop-bad-mac', 'fwknop-bad-base64', 'fwknop-bad-length'],
  },
  // Decrypted as CBC, a CFB ciphertext is noise: its padding or its text is wrong, whichever comes first.
  {
    name: 'CFB mode (-M cfb)',
    args: ['-A', 'tcp/22', '-a', '198.51.100.7', '-M', 'cfb'],
    expect: ['fwknop-bad-padding', 'fwknop-bad-encoding'],
  },
];

function field(out: string, label: string): string {
  const m = new RegExp(`^\\s*${label}: (.*)$`, 'm').exec(out);
  if (m === null) throw new Error(`fwknop output has no "${label}" line:\n${out}`);
  return (m[1] as string).trim();
}

function run(args: readonly string[]): string {
  return execFileSync('fwknop', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function generate(): FwknopClientVectors {
  let keyBase64: string;
  let hmacKeyBase64: string;
  if (existsSync(FWKNOP_VECTORS_FILE)) {
    ({ keyBase64, hmacKeyBase64 } = JSON.parse(readFileSync(FWKNOP_VECTORS_FILE, 'utf8')) as FwknopClientVectors);
  } else {
    const out = run(['--key-gen', '--no-rc-file', '--no-save-args']);
    keyBase64 = field(out, 'KEY_BASE64');
    hmacKeyBase64 = field(out, 'HMAC_KEY_BASE64');
  }
  const version = run(['--no-rc-file', '--no-save-args', '--version']).trim();
  const vectors = CASES.map((c): FwknopClientVector => {
    const argv = [
      '--no-rc-file',
      '--no-save-args',
      '--test',
      '-v',
      '-D',
      '127.0.0.1',
      '--key-base64-rijndael',
      keyBase64,
      ...(c.noHmac === true ? [] : ['--use-hmac', '--key-base64-hmac', hmacKeyBase64]),
      ...c.args,
    ];
    const out = run(argv);
    const dump: FwknopClientDump = {
      randomValue: field(out, 'Random Value'),
      username: field(out, 'Username'),
      timestampSec: Number(field(out, 'Timestamp')),
      messageType: Number(field(out, 'Message Type').split(' ')[0]),
      message: field(out, 'Message String'),
      clientTimeoutSec: Number(field(out, 'Client Timeout')),
      digestType: field(out, 'Digest Type'),
      hmacType: field(out, 'HMAC Type'),
    };
    const keyFree = argv.filter((a) => a !== keyBase64 && a !== hmacKeyBase64);
    return { ...c, argv: ['fwknop', ...keyFree], dump, packet: field(out, 'Final SPA Data') };
  });
  return { generatedBy: version, keyBase64, hmacKeyBase64, vectors };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(FWKNOP_VECTORS_FILE, `${JSON.stringify(generate(), null, 2)}\n`);
  console.log(`wrote ${FWKNOP_VECTORS_FILE}`);
}
