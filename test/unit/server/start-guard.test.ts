// What stops a daemon before it touches anything: the pid lock on its state_dir, and --check's
// look at the listener (the pcap module and the interface).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ServerConfig } from '../../../src/server/config/config.js';
import { checkListener } from '../../../src/server/listen/check-listener.js';
import { PCAP_MISSING, type PcapModule } from '../../../src/server/listen/pcap.js';
import { LockedError, PID_FILE, PidLock } from '../../../src/server/state/pid-lock.js';
import { ConfigError } from '../../../src/shared/errors.js';

test('pid lock: taken by a live process, named in the error; free again once that process is gone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, PID_FILE);

  const lock = PidLock.acquire(dir);
  assert.equal(readFileSync(file, 'utf8'), `${process.pid}\n`);
  lock.release();
  assert.ok(!existsSync(file), 'released: the file is gone');

  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pid = other.pid as number;
  writeFileSync(file, `${pid}\n`);
  assert.throws(
    () => PidLock.acquire(dir),
    (err: unknown) => err instanceof LockedError && err.pid === pid && err.message.includes(`pid ${pid}`),
  );
  assert.equal(readFileSync(file, 'utf8'), `${pid}\n`, 'the holder keeps its lock');
  const exited = new Promise((r) => other.once('exit', r));
  other.kill();
  await exited;
  const again = PidLock.acquire(dir);
  assert.equal(readFileSync(file, 'utf8'), `${process.pid}\n`, 'a dead holder: stale, taken over');
  writeFileSync(file, 'garbage');
  again.release();
  assert.equal(readFileSync(file, 'utf8'), 'garbage', 'release leaves a file that is not ours');
});

const pcapConfig = (iface: string): ServerConfig =>
  ({ file: '/etc/knockspa/server.toml', listen: 'pcap', interface: iface, address: '0.0.0.0', port: 62201 }) as unknown as ServerConfig;

test('--check: listen = "pcap" without the pcap module fails naming the key; a missing interface too', async () => {
  const missing = (): Promise<PcapModule> => {
    const err = new Error("Cannot find package 'pcap' imported from /x") as NodeJS.ErrnoException;
    err.code = 'ERR_MODULE_NOT_FOUND';
    return Promise.reject(err);
  };
  const present = (): Promise<PcapModule> => Promise.resolve({} as PcapModule);
  await assert.rejects(
    checkListener(pcapConfig('lo'), missing),
    (err: unknown) => err instanceof ConfigError && err.key === 'listen' && err.message.includes(PCAP_MISSING),
  );
  await assert.rejects(
    checkListener(pcapConfig('nosuch0'), present),
    (err: unknown) => err instanceof ConfigError && err.key === 'interface' && /"nosuch0"/.test(err.message),
  );
  await assert.rejects(checkListener(pcapConfig('../lo'), present), ConfigError);
  assert.match(await checkListener(pcapConfig('lo'), present), /^listen pcap: the pcap module loads; interface lo exists$/);
});
