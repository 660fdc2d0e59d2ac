/**
 * Against the real OpenSSH tools: keys made by ssh-keygen parse with the fingerprint ssh-keygen
 * prints, and a signature made by `ssh-keygen -Y sign -n knockspa@v1` over the unsigned packet
 * completes a packet the verifier accepts: the signed data is SSHSIG's, byte for byte.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  parseAuthorizedKey,
  SshReader,
  sshFinishPacket,
  sshUnsignedPacket,
  type SshPublicKey,
} from '../../../../src/protocol/ssh/index.js';
import { requires } from '../../../lab/requirements.js';
import { NOW, OPEN_22, SERVER_PUBLIC, ephemeralOf, makeSshVerifier } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'knockspa-sshsig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The signature blob inside an armored SSHSIG file (PROTOCOL.sshsig "Blob format"). */
function sshsigSignature(armored: string): Uint8Array {
  const b64 = armored.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const blob = new Uint8Array(Buffer.from(b64, 'base64'));
  assert.equal(Buffer.from(blob.subarray(0, 6)).toString(), 'SSHSIG');
  const r = new SshReader(blob.subarray(6));
  r.u32(); // version
  r.string(); // public key
  assert.equal(r.text(), 'knockspa@v1');
  r.string(); // reserved
  assert.equal(r.text(), 'sha512');
  const sig = r.string();
  assert.ok(sig !== undefined && r.done);
  return sig;
}

describe('OpenSSH interoperability', () => {
  const cases = [
    ['ed25519', []],
    ['ecdsa', ['-b', '256']],
    ['rsa', ['-b', '3072']],
  ] as const;
  for (const [type, extra] of cases) {
    test(`${type}: ssh-keygen's key, fingerprint and -Y sign signature`, (t) => {
      if (!requires(t, ['ssh-keygen'])) return;
      const file = join(dir, `id_${type}`);
      execFileSync('ssh-keygen', ['-q', '-t', type, ...extra, '-N', '', '-C', `test ${type}`, '-f', file]);
      const pub = parseAuthorizedKey(readFileSync(`${file}.pub`, 'utf8'));
      if (typeof pub === 'string') assert.fail(pub);
      const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1];
      assert.equal(pub.fingerprint, printed);
      assert.equal(pub.comment, `test ${type}`);
      const unsigned = sshUnsignedPacket({
        fields: OPEN_22,
        serverPublic: SERVER_PUBLIC,
        ephemeralPrivate: ephemeralOf(5),
        keyBlob: pub.blob,
      });
      const msg = join(dir, `msg-${type}`);
      writeFileSync(msg, unsigned);
      execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-n', 'knockspa@v1', '-f', file, msg], { stdio: 'ignore' });
      const packet = sshFinishPacket(unsigned, pub, sshsigSignature(readFileSync(`${msg}.sig`, 'utf8')));
      const result = makeSshVerifier([['alice', { type: pub.type, pub, sign: () => new Uint8Array() }]]).verify(packet, NOW);
      assert.equal(typeof result, 'object', `refused: ${String(result)}`);
    });
  }

  test('another namespace (-n file) does not verify', (t) => {
    if (!requires(t, ['ssh-keygen'])) return;
    const file = join(dir, 'id_ns');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
    const pub = parseAuthorizedKey(readFileSync(`${file}.pub`, 'utf8')) as SshPublicKey;
    const unsigned = sshUnsignedPacket({
      fields: OPEN_22,
      serverPublic: SERVER_PUBLIC,
      ephemeralPrivate: ephemeralOf(6),
      keyBlob: pub.blob,
    });
    const msg = join(dir, 'msg-ns');
    writeFileSync(msg, unsigned);
    execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-n', 'file', '-f', file, msg], { stdio: 'ignore' });
    const armored = readFileSync(`${msg}.sig`, 'utf8');
    const b64 = armored.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    const r = new SshReader(new Uint8Array(Buffer.from(b64, 'base64')).subarray(6));
    r.u32();
    r.string();
    r.string();
    r.string();
    r.string();
    const packet = sshFinishPacket(unsigned, pub, r.string()!);
    assert.equal(makeSshVerifier([['alice', { type: pub.type, pub, sign: () => new Uint8Array() }]]).verify(packet, NOW), 'bad-signature');
  });
});

describe('authorized_keys lines', () => {
  // Made by `ssh-keygen -t ed25519 -C alice@laptop` (a vector: parsing needs no OpenSSH installed).
  const line = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJKk6yNif+WVyciMz/TktM5NRDf5jykOvny8ofRhW2x+ alice@laptop';

  test('a plain line parses, comment kept', () => {
    const key = parseAuthorizedKey(line);
    assert.equal(typeof key, 'object');
    assert.equal((key as SshPublicKey).comment, 'alice@laptop');
  });

  test('options before the key type are refused with the reason', () => {
    for (const opts of ['from="10.0.0.0/8"', 'command="/bin/true"', 'no-pty', 'restrict,from="1.2.3.4"'])
      assert.match(parseAuthorizedKey(`${opts} ${line}`) as string, /options before the key type .* are refused/);
  });

  test('unsupported types, bad base64, a type that does not match the blob', () => {
    assert.match(parseAuthorizedKey('ssh-dss AAAAB3NzaC1kc3M=') as string, /not supported/);
    assert.match(parseAuthorizedKey('ssh-ed25519 !!!') as string, /expected the key's base64/);
    const b64 = line.split(' ')[1]!;
    assert.match(
      parseAuthorizedKey(`ecdsa-sha2-nistp256 ${b64}`) as string,
      /the line says ecdsa-sha2-nistp256 but the key is ssh-ed25519/,
    );
    assert.match(parseAuthorizedKey(`ssh-ed25519 ${b64.slice(0, -8)}AAAAAAA=`) as string, /ssh-ed25519/);
  });
});
