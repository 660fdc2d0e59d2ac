/**
 * Debian's real fwknop in the lab (fwknop-client and fwknop-server 2.6.10; a test declares
 * {@link FWKNOP_NEEDS}): the client run in a namespace, fwknopd run in the foreground in the server
 * namespace with temp config files, and keys made the way fwknop --key-gen makes them.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestNet } from './netns.js';
import type { NsProcess, RunResult } from './process.js';
import type { Need } from './requirements.js';

export const FWKNOP = '/usr/bin/fwknop';
export const FWKNOPD = '/usr/sbin/fwknopd';

export interface FwknopKeysB64 {
  readonly key: string;
  readonly hmacKey: string;
}

/** 32 and 64 random bytes in base64, like `fwknop --key-gen`. */
export function newFwknopKeys(): FwknopKeysB64 {
  return { key: randomBytes(32).toString('base64'), hmacKey: randomBytes(64).toString('base64') };
}

/** What a test that runs fwknop and fwknopd declares (requirements.ts). */
export const FWKNOP_NEEDS: readonly Need[] = ['fwknop', 'fwknopd'];

export interface FwknopRun extends RunResult {
  /** The packet as fwknop sent it (its -B file): the UDP payload. */
  readonly packet: string;
}

/** Runs Debian's fwknop client in the client namespace against `host`:`spaPort`; never reads or writes ~/.fwknoprc or ~/.fwknop.run. */
export async function fwknopClient(
  net: TestNet,
  host: string,
  spaPort: number,
  keys: FwknopKeysB64,
  args: readonly string[],
  opts: { hmac?: boolean } = {},
): Promise<FwknopRun> {
  const dir = mkdtempSync(join(tmpdir(), `knockspa-fwknop-${net.id}-`));
  const dump = join(dir, 'packet.txt');
  try {
    const argv = [
      FWKNOP,
      '--no-rc-file',
      '--no-save-args',
      '-D',
      host,
      '-p',
      String(spaPort),
      '--key-base64-rijndael',
      keys.key,
      '-B',
      dump,
    ];
    if (opts.hmac ?? true) argv.push('--use-hmac', '--key-base64-hmac', keys.hmacKey);
    const r = await net.run(net.cli, [...argv, ...args], { timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`fwknop ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return { ...r, packet: readFileSync(dump, 'utf8').trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Fwknopd {
  readonly proc: NsProcess;
  /** Resolves once fwknopd's log (stderr, foreground mode) has a line matching `pattern`. */
  waitLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/**
 * fwknopd in the foreground in the server namespace: pcap on the server's veth, iptables in its own
 * FWKNOP_INPUT chain (removed again when it stops), a capture of udp port `spaPort`, one access stanza with `keys` for `openPorts`.
 */
export async function startFwknopd(net: TestNet, spaPort: number, keys: FwknopKeysB64, openPorts: string): Promise<Fwknopd> {
  const dir = mkdtempSync(join(tmpdir(), `knockspa-fwknopd-${net.id}-`));
  net.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'fwknopd.conf');
  const access = join(dir, 'access.conf');
  writeFileSync(
    conf,
    [
      `PCAP_INTF ${net.srvIf};`,
      `PCAP_FILTER udp port ${spaPort};`,
      'ENABLE_DIGEST_PERSISTENCE N;',
      'MAX_SPA_PACKET_AGE 30;',
      `FWKNOP_RUN_DIR ${dir};`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  writeFileSync(
    access,
    [`SOURCE ANY`, `KEY_BASE64 ${keys.key}`, `HMAC_KEY_BASE64 ${keys.hmacKey}`, `OPEN_PORTS ${openPorts}`, 'FW_ACCESS_TIMEOUT 30', ''].join(
      '\n',
    ),
    { mode: 0o600 },
  );
  const proc = net.spawnIn(net.srv, [
    FWKNOPD,
    '-f',
    '-v',
    '-c',
    conf,
    '-a',
    access,
    '-p',
    join(dir, 'fwknopd.pid'),
    '-d',
    join(dir, 'digest.cache'),
  ]);
  const waitLog = (pattern: RegExp, timeoutMs = 10_000): Promise<string> =>
    proc.waitUntil(
      () => `${proc.lines.join('\n')}\n${proc.stderr}`.split('\n').find((l) => pattern.test(l)),
      timeoutMs,
      `fwknopd log line ${pattern}`,
    );
  await waitLog(/Starting fwknopd main event loop/, 15_000);
  return { proc, waitLog };
}
