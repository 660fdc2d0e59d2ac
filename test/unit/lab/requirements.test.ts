/**
 * The lab's requirements mechanism (test/lab/requirements.ts) on a fake machine: a PATH of temp
 * directories holding fake tools, a fake module loader, root or not, CI or not.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  findTool,
  netnsUnavailableReason,
  PCAP_HINT,
  requires,
  SK_DUMMY_HINT,
  SKIP_MESSAGE,
  unmetNeeds,
  type Machine,
} from '../../lab/requirements.js';

const root = mkdtempSync(join(tmpdir(), 'knockspa-requirements-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A directory holding an executable stub for each name. */
function binDir(name: string, tools: readonly string[]): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const tool of tools) writeFileSync(join(dir, tool), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return dir;
}

const ALL = binDir('all', ['ip', 'iptables', 'ip6tables', 'nft', 'tcpdump', 'sshd', 'ssh', 'ssh-keygen']);
const EMPTY = binDir('empty', []);

const PCAP_ABSENT = Object.assign(new Error("Cannot find package 'pcap' imported from /x/y.js\nRequire stack: ..."), {
  code: 'ERR_MODULE_NOT_FOUND',
});

function machine(over: Partial<Machine> = {}): Machine {
  return {
    platform: 'linux',
    isRoot: true,
    path: ALL,
    ci: false,
    loadModule: () => ({}),
    netnsWorks: () => true,
    skDummy: join(root, 'no-sk-dummy.so'),
    ...over,
  };
}

/** A stand-in for node:test's context that records skips. */
function fakeContext(): { skips: string[]; skip(message?: string): void } {
  const skips: string[] = [];
  return { skips, skip: (message) => void skips.push(String(message)) };
}

describe('findTool', () => {
  test('finds an executable in the first PATH directory that has it', () => {
    const first = binDir('first', ['tcpdump']);
    assert.equal(findTool('tcpdump', `${EMPTY}:${first}:${ALL}`), join(first, 'tcpdump'));
    assert.equal(findTool('tcpdump', EMPTY), null);
    assert.equal(findTool('tcpdump', ''), null);
  });

  test('skips a file that is not executable, a directory of that name, and relative PATH entries', () => {
    const plain = binDir('plain', ['nft']);
    chmodSync(join(plain, 'nft'), 0o644);
    const dirs = join(root, 'dirs');
    mkdirSync(join(dirs, 'nft'), { recursive: true });
    assert.equal(findTool('nft', `${plain}:${dirs}`), null);
    assert.equal(findTool('nft', `${plain}:${dirs}:${ALL}`), join(ALL, 'nft'));
    assert.equal(findTool('nft', 'relative/bin:.'), null);
  });
});

describe('unmetNeeds', () => {
  test('null when everything is there', () => {
    assert.equal(unmetNeeds(['netns', 'tcpdump', 'sshd', 'pcap'], machine()), null);
    assert.equal(unmetNeeds([], machine({ path: EMPTY, isRoot: false })), null);
  });

  test('missing tools, in one line, each with the Debian package that brings it', () => {
    assert.equal(
      unmetNeeds(['tcpdump', 'sshd', 'ssh', 'ssh-keygen', 'fwknop', 'fwknopd'], machine({ path: EMPTY })),
      'missing tcpdump, sshd, ssh, ssh-keygen, fwknop, fwknopd (not on PATH): apt-get install tcpdump openssh-server openssh-client fwknop-client fwknop-server',
    );
    assert.equal(unmetNeeds(['tcpdump', 'fwknop'], machine()), 'missing fwknop (not on PATH): apt-get install fwknop-client');
  });

  test('the pcap module: what the loader said, and how to build it', () => {
    const line = unmetNeeds(
      ['pcap'],
      machine({
        loadModule: () => {
          throw PCAP_ABSENT;
        },
      }),
    );
    assert.equal(line, `missing the pcap module (Cannot find package 'pcap' imported from /x/y.js): install ${PCAP_HINT}`);
    assert.match(PCAP_HINT, /^libpcap-dev and a compiler \(g\+\+ make python3\), then npm rebuild pcap$/);
  });

  test("OpenSSH's sk-dummy: missing until the file is there (a directory of that name is not it), with the script that builds it", () => {
    const missing = join(root, 'sk', 'sk-dummy.so');
    assert.equal(
      unmetNeeds(['sk-dummy'], machine({ skDummy: missing })),
      `missing OpenSSH's sk-dummy middleware (${missing}): ${SK_DUMMY_HINT}`,
    );
    mkdirSync(missing, { recursive: true });
    assert.match(unmetNeeds(['sk-dummy'], machine({ skDummy: missing })) ?? '', /^missing OpenSSH's sk-dummy middleware/);
    const built = join(root, 'sk-dummy.so');
    writeFileSync(built, 'ELF');
    assert.equal(unmetNeeds(['sk-dummy'], machine({ skDummy: built })), null);
    assert.match(SK_DUMMY_HINT, /scripts\/sk-dummy\.sh/);
  });

  test('root and namespaces: not root, not Linux, no ip, ip netns broken', () => {
    assert.equal(unmetNeeds(['netns'], machine({ isRoot: false })), `${SKIP_MESSAGE} (not root)`);
    assert.equal(unmetNeeds(['netns'], machine({ platform: 'darwin' })), `${SKIP_MESSAGE} (not Linux)`);
    assert.equal(unmetNeeds(['root'], machine({ isRoot: false })), 'needs root (not root); run: sudo npm test');
    assert.equal(unmetNeeds(['netns'], machine({ path: EMPTY })), 'missing ip (not on PATH): apt-get install iproute2');
    assert.equal(unmetNeeds(['netns'], machine({ netnsWorks: () => false })), `${SKIP_MESSAGE} (\`ip netns list\` does not work)`);
    assert.equal(netnsUnavailableReason(machine({ isRoot: false })), 'not root');
    assert.equal(netnsUnavailableReason(machine()), null);
  });

  test('everything missing at once stays one line', () => {
    const line = unmetNeeds(
      ['netns', 'tcpdump', 'pcap'],
      machine({
        isRoot: false,
        path: EMPTY,
        loadModule: () => {
          throw PCAP_ABSENT;
        },
      }),
    );
    assert.ok(line !== null);
    assert.doesNotMatch(line, /\n/);
    assert.equal(
      line,
      `${SKIP_MESSAGE} (not root); missing ip, tcpdump (not on PATH): apt-get install iproute2 tcpdump; missing the pcap module (Cannot find package 'pcap' imported from /x/y.js): install ${PCAP_HINT}`,
    );
  });
});

describe('requires', () => {
  test('all there: true, no skip', () => {
    const t = fakeContext();
    assert.equal(requires(t, ['netns', 'tcpdump', 'pcap'], machine()), true);
    assert.deepEqual(t.skips, []);
  });

  test('outside CI, something missing: skips with the line, returns false', () => {
    const t = fakeContext();
    assert.equal(requires(t, ['tcpdump'], machine({ path: EMPTY })), false);
    assert.deepEqual(t.skips, ['missing tcpdump (not on PATH): apt-get install tcpdump']);
    const p = fakeContext();
    assert.equal(
      requires(
        p,
        ['pcap'],
        machine({
          loadModule: () => {
            throw PCAP_ABSENT;
          },
        }),
      ),
      false,
    );
    assert.deepEqual(p.skips, [`missing the pcap module (Cannot find package 'pcap' imported from /x/y.js): install ${PCAP_HINT}`]);
  });

  test('with CI=true, the same absence is a failure, not a skip', () => {
    const t = fakeContext();
    assert.throws(() => requires(t, ['sshd', 'ssh'], machine({ path: EMPTY, ci: true })), {
      message: 'missing sshd, ssh (not on PATH): apt-get install openssh-server openssh-client; CI=true: a skip there is a failure',
    });
    assert.throws(
      () =>
        requires(
          t,
          ['pcap'],
          machine({
            ci: true,
            loadModule: () => {
              throw PCAP_ABSENT;
            },
          }),
        ),
      /missing the pcap module .*; CI=true: a skip there is a failure$/,
    );
    assert.throws(() => requires(t, ['netns'], machine({ ci: true, isRoot: false })), {
      message: `${SKIP_MESSAGE} (not root); CI=true: a skip there is a failure`,
    });
    assert.deepEqual(t.skips, []);
  });

  test('the real machine: CI comes from CI=true, PATH from the environment', () => {
    const t = fakeContext();
    const saved = { path: process.env.PATH, ci: process.env.CI };
    try {
      process.env.PATH = EMPTY;
      delete process.env.CI;
      assert.equal(requires(t, ['tcpdump']), false);
      assert.deepEqual(t.skips, ['missing tcpdump (not on PATH): apt-get install tcpdump']);
      process.env.CI = 'true';
      assert.throws(() => requires(t, ['tcpdump']), /missing tcpdump .*CI=true/);
    } finally {
      process.env.PATH = saved.path;
      if (saved.ci === undefined) delete process.env.CI;
      else process.env.CI = saved.ci;
    }
  });
});
