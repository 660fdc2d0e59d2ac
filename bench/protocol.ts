/**
 * Protocol throughput: sealPacket, and Verifier.verify on valid packets, unknown key ids and bad tags;
 * for the SSH-key format, packets verified per key type, junk and unknown candidates; and the SSH
 * format's public-key primitives through Node's crypto and through @noble/curves (a devDependency,
 * here only to compare: the runtime uses Node's), on the same inputs.
 *   node dist/bench/protocol.js [seconds per case, default 3] [crypto: only the Node / noble rows]
 * Figures are printed beside orientation targets; nothing is asserted.
 * @module
 */
import { randomFillSync, verify as nodeVerify } from 'node:crypto';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { cpus } from 'node:os';
import { Keyring, ReplayGuard, Verifier, sealPacket, type KnockFields, type UserKey, type VerifyResult } from '../src/protocol/index.js';
import {
  SSH_OFF_EPHEMERAL,
  SSH_OFF_SIGNATURE,
  SshKeyring,
  SshVerifier,
  sshsigSignedData,
  sshUnsignedPacket,
  x25519PrivateKey,
  x25519Shared,
} from '../src/protocol/ssh/index.js';
import { KEYS as SSH_KEYS, NOW as SSH_NOW, SERVER_PRIVATE, SERVER_PUBLIC, knock, newKey } from '../test/unit/protocol/ssh/fixtures.js';

const SECONDS = Number(process.argv[2] ?? process.env['BENCH_SECONDS'] ?? 3);
const ONLY_CRYPTO = process.argv[3] === 'crypto';
const WARMUP_SECONDS = Math.min(1, SECONDS / 3);
const KEYS = 1_000; // users in the server's keyring
const POOL = 50_000; // distinct valid packets; verified in passes, each pass with a fresh replay guard
const SERVER = 'bench.example.net';
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const SKEW = 30_000;

const random = (n: number): Uint8Array => randomFillSync(new Uint8Array(n));

function makeKey(i: number): UserKey {
  return { user: `user${i}`, keyId: random(8), serverId: SERVER, secret: random(32), created: '2025-01-01T00:00:00Z' };
}

const FIELDS: KnockFields = {
  timestampMs: NOW,
  action: 'open',
  ports: [
    { proto: 'tcp', port: 22 },
    { proto: 'udp', port: 51820 },
  ],
  allowIp: '203.0.113.7',
  durationSec: 3600,
};

interface Result {
  readonly name: string;
  readonly ops: number;
  readonly ns: bigint;
  readonly target?: number;
  readonly note?: string;
}

/**
 * Runs `op` in batches for about `seconds`, after a warm-up of the same kind. `op(i)` gets a running
 * counter so it can walk a pool; it returns false if a result was not what the case expects.
 */
function measure(name: string, op: (i: number) => boolean, opts: { target?: number; note?: string; batch?: number } = {}): Result {
  // Slow cases (milliseconds a call) take smaller batches, so a case stays near its seconds.
  const BATCH = opts.batch ?? 1_000;
  let i = 0;
  const run = (seconds: number): { ops: number; ns: bigint } => {
    const budget = BigInt(Math.round(seconds * 1e9));
    const start = process.hrtime.bigint();
    let ops = 0;
    let elapsed: bigint;
    do {
      for (let k = 0; k < BATCH; k++) if (!op(i++)) throw new Error(`${name}: unexpected result at iteration ${i - 1}`);
      ops += BATCH;
      elapsed = process.hrtime.bigint() - start;
    } while (elapsed < budget);
    return { ops, ns: elapsed };
  };
  run(WARMUP_SECONDS);
  const { ops, ns } = run(SECONDS);
  return { name, ops, ns, target: opts.target, note: opts.note };
}

function rate(r: Result): number {
  return (r.ops * 1e9) / Number(r.ns);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function printTable(results: readonly Result[]): void {
  const rows = results.map((r) => {
    const perSec = rate(r);
    const target = r.target === undefined ? '' : `>= ${fmt(r.target)}`;
    const verdict = r.target === undefined ? '' : perSec >= r.target ? 'ok' : 'BELOW';
    return [r.name, fmt(perSec), (1e6 / perSec).toFixed(2), target, verdict, r.note ?? ''];
  });
  const header = ['case', 'packets/s', 'us/packet', 'target', '', 'notes'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (c === 1 || c === 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

function main(): void {
  console.log(`knockspa protocol benchmark: node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'}, ${SECONDS}s per case`);
  if (ONLY_CRYPTO) {
    const results: Result[] = [];
    curveCases(results);
    printTable(results);
    return;
  }
  const keys = Array.from({ length: KEYS }, (_, i) => makeKey(i));
  const keyring = new Keyring();
  for (const key of keys) keyring.add(key);
  const newVerifier = (): Verifier => new Verifier({ keyring, serverId: SERVER, maxSkewMs: SKEW, replay: new ReplayGuard(POOL) });
  const isVerified = (r: VerifyResult): boolean => typeof r === 'object';

  const nonces = Array.from({ length: 4096 }, () => random(24));
  const results: Result[] = [];

  results.push(
    measure('sealPacket (build)', (i) => sealPacket(keys[i % KEYS]!, FIELDS, nonces[i & 4095]!).length === 146, {
      note: 'HKDF per packet',
    }),
  );

  process.stdout.write(`building ${fmt(POOL)} valid packets... `);
  const t0 = process.hrtime.bigint();
  const pool = Array.from({ length: POOL }, (_, i) => sealPacket(keys[i % KEYS]!, FIELDS, random(24)));
  console.log(`${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);

  let verifier = newVerifier();
  results.push(
    measure(
      'verify: valid packet',
      (i) => {
        const at = i % POOL;
        if (at === 0) verifier = newVerifier(); // every packet once per guard: never a replay
        return isVerified(verifier.verify(pool[at]!, NOW));
      },
      { target: 100_000, note: `fresh nonce each; ${fmt(KEYS)} keys; new guard every ${fmt(POOL)}` },
    ),
  );

  const unknown = pool[0]!.slice();
  unknown.set(random(8), 2);
  const rejecter = newVerifier();
  results.push(measure('verify: unknown key id', () => rejecter.verify(unknown, NOW) === 'unknown-key', { target: 1_000_000 }));

  const badTag = pool[1]!.slice();
  badTag[145]! ^= 1;
  results.push(measure('verify: bad tag', () => rejecter.verify(badTag, NOW) === 'bad-mac', { note: 'one HMAC, nothing decrypted' }));

  const short = pool[2]!.subarray(0, 100);
  results.push(measure('verify: bad length', () => rejecter.verify(short, NOW) === 'bad-length'));

  sshCases(results);
  curveCases(results);

  console.log('');
  printTable(results);
}

/** The SSH-key format: Node's crypto verifies (signature, X25519); 1,000 keys in the keyring. */
function sshCases(results: Result[]): void {
  const SSH_POOL = 1_000;
  const keyring = new SshKeyring(SERVER_PUBLIC);
  for (const [i, key] of SSH_KEYS.entries()) keyring.add(`ssh${i}`, key.pub, false);
  for (let i = SSH_KEYS.length; i < 1_000; i++) keyring.add(`filler${i}`, newKey('ssh-ed25519').pub);
  const newVerifier = (): SshVerifier =>
    new SshVerifier({ keyring, serverPrivate: SERVER_PRIVATE, maxSkewMs: SKEW, replay: new ReplayGuard(16 * SSH_POOL) }); // one user sends them all: its quota is a sixteenth
  const eph = Array.from({ length: 256 }, () => random(32));
  results.push(
    measure(
      'ssh: seal body (unsigned)',
      (i) =>
        sshUnsignedPacket({ fields: FIELDS, serverPublic: SERVER_PUBLIC, ephemeralPrivate: eph[i & 255]!, keyBlob: SSH_KEYS[0]!.pub.blob })
          .length === 138,
      { note: "X25519 + HKDF + ChaCha20-Poly1305; the signing is the agent's" },
    ),
  );
  for (const key of SSH_KEYS) {
    const pool = Array.from({ length: SSH_POOL }, () => knock(key, { ephemeral: random(32), flags: 1 }));
    let verifier = newVerifier();
    const label = key.type === 'ssh-rsa' ? `ssh-rsa ${key.pub.bits}` : key.type;
    results.push(
      measure(
        `ssh verify: ${label}`,
        (i) => {
          const at = i % SSH_POOL;
          if (at === 0) verifier = newVerifier();
          return typeof verifier.verify(pool[at]!, SSH_NOW) === 'object';
        },
        { note: `${pool[0]!.length} bytes; signature, then X25519 and decryption` },
      ),
    );
  }
  const rejecter = newVerifier();
  const unknown = knock(SSH_KEYS[0]!, { n: 1 });
  unknown.set(random(8), 2);
  results.push(
    measure('ssh verify: unknown candidate', () => rejecter.verify(unknown, SSH_NOW) === 'unknown-key', { note: 'hash lookup' }),
  );
  const junk = random(202);
  junk[0] = 0x00;
  results.push(measure('ssh verify: junk (202 random bytes)', () => rejecter.verify(junk, SSH_NOW) === 'bad-magic'));
  const forged = knock(SSH_KEYS[0]!, { n: 2 });
  forged[150]! ^= 1;
  results.push(
    measure('ssh verify: known candidate, bad signature', () => rejecter.verify(forged, SSH_NOW) === 'bad-signature', {
      note: 'Ed25519; what a sniffer who copies a candidate id can make the server do, within its budget',
    }),
  );
}

/**
 * The public-key work of one SSH-key knock, Node's crypto (OpenSSL) against @noble/curves, each
 * from what the server has: the key as parsed at config load (a KeyObject for Node, raw bytes for
 * noble), the 32 raw bytes of the client's ephemeral key from the packet, the signed data. Every
 * call's result is checked: a valid signature must verify, a forged one must not.
 */
function curveCases(results: Result[]): void {
  const raw = (b64url: string | undefined): Uint8Array => new Uint8Array(Buffer.from(b64url ?? '', 'base64url'));
  const by = (type: string): (typeof SSH_KEYS)[number] => SSH_KEYS.find((k) => k.type === type)!;
  const cases = (['ssh-ed25519', 'ecdsa-sha2-nistp256'] as const).map((type) => {
    const key = by(type);
    const packet = knock(key, { ephemeral: random(32), flags: 1 });
    const signed = sshsigSignedData(packet.subarray(0, SSH_OFF_SIGNATURE));
    const sig = packet.subarray(SSH_OFF_SIGNATURE);
    const forged = sig.slice();
    forged[40]! ^= 1; // inside s (ECDSA) or S (Ed25519), still in range: a full verification that fails
    const jwk = key.pub.key.export({ format: 'jwk' });
    const pub = type === 'ssh-ed25519' ? raw(jwk.x) : new Uint8Array([4, ...raw(jwk.x), ...raw(jwk.y)]);
    return { type, key, signed, sig, forged, pub };
  });
  for (const { type, key, signed, sig, forged, pub } of cases) {
    const node = (s: Uint8Array): boolean =>
      type === 'ssh-ed25519'
        ? nodeVerify(null, signed, key.pub.key, s)
        : nodeVerify('sha256', signed, { key: key.pub.key, dsaEncoding: 'ieee-p1363' }, s);
    // RFC 8032 / SEC 1 as OpenSSL checks them: no ZIP-215 leniency; OpenSSH does not normalise ECDSA s (no low-S rule).
    const noble = (s: Uint8Array): boolean =>
      type === 'ssh-ed25519' ? ed25519.verify(s, signed, pub, { zip215: false }) : p256.verify(s, signed, pub, { lowS: false });
    results.push(measure(`crypto: ${type} verify, node:crypto`, () => node(sig), { note: 'OpenSSL; KeyObject made at load', batch: 100 }));
    results.push(measure(`crypto: ${type} verify, @noble/curves`, () => noble(sig), { note: 'raw public key', batch: 10 }));
    results.push(measure(`crypto: ${type} bad signature, node:crypto`, () => !node(forged), { batch: 100 }));
    results.push(measure(`crypto: ${type} bad signature, @noble/curves`, () => !noble(forged), { batch: 10 }));
  }
  // X25519 as the server does it per packet: its own key (loaded once) with the packet's ephemeral key.
  const serverKey = x25519PrivateKey(SERVER_PRIVATE);
  const ephemerals = Array.from({ length: 256 }, () =>
    knock(SSH_KEYS[0]!, { ephemeral: random(32) }).slice(SSH_OFF_EPHEMERAL, SSH_OFF_EPHEMERAL + 32),
  );
  const expected = ephemerals.map((e) => Buffer.from(x25519.getSharedSecret(SERVER_PRIVATE, e)).toString('hex'));
  results.push(
    measure(
      'crypto: X25519 shared, node:crypto',
      (i) => Buffer.from(x25519Shared(serverKey, ephemerals[i & 255]!)!).toString('hex') === expected[i & 255],
      { note: 'a KeyObject from the 32 raw bytes, then diffieHellman', batch: 100 },
    ),
  );
  results.push(
    measure(
      'crypto: X25519 shared, @noble/curves',
      (i) => Buffer.from(x25519.getSharedSecret(SERVER_PRIVATE, ephemerals[i & 255]!)).toString('hex') === expected[i & 255],
      { batch: 10 },
    ),
  );
}

main();
