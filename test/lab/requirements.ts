/**
 * What a lab run needs from the machine, declared by the test (or benchmark, or the demo) that
 * needs it: root and network namespaces, system tools, the optional pcap module.
 *
 * When something is missing, outside CI the test skips with one line naming what is missing and the
 * Debian package that brings it (or the script that builds it); with CI=true the same absence fails the test, since a skip there
 * would hide that nothing was tested. `npm run test:deps` (scripts/test-deps.sh) installs them all.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join } from 'node:path';
import { labCacheDir } from './nspawn.js';

/** Executables the lab runs, and the Debian package that brings each. */
export const TOOL_PACKAGES = {
  ip: 'iproute2',
  ss: 'iproute2',
  iptables: 'iptables',
  ip6tables: 'iptables',
  'iptables-restore': 'iptables',
  'ip6tables-restore': 'iptables',
  'iptables-legacy': 'iptables',
  'ip6tables-legacy': 'iptables',
  'iptables-legacy-restore': 'iptables',
  'ip6tables-legacy-restore': 'iptables',
  'iptables-nft': 'iptables',
  nft: 'nftables',
  tcpdump: 'tcpdump',
  sshd: 'openssh-server',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  'ssh-agent': 'openssh-client',
  'ssh-add': 'openssh-client',
  fwknop: 'fwknop-client',
  fwknopd: 'fwknop-server',
  python3: 'python3',
  'redis-server': 'redis-server',
} as const;

export type Tool = keyof typeof TOOL_PACKAGES;

/**
 * - 'root': root on Linux (raw captures, firewall tools);
 * - 'netns': root, and `ip netns` works (every namespace test);
 * - 'pcap': the optional pcap module loads (its native part built against libpcap);
 * - 'sk-dummy': OpenSSH's software security key is built ({@link skDummyPath});
 * - a {@link Tool}: that executable is on PATH.
 */
export type Need = 'root' | 'netns' | 'pcap' | 'sk-dummy' | Tool;

/** The tools every test in a {@link TestNet} uses: namespaces, the base ruleset, `nft flush ruleset`. */
export const NETNS_TOOLS: readonly Tool[] = ['ip', 'iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'nft'];

export const SKIP_MESSAGE = 'e2e tests need root and ip netns; run: sudo npm test';
export const PCAP_HINT = 'libpcap-dev and a compiler (g++ make python3), then npm rebuild pcap';
export const SK_DUMMY_HINT = 'build it: sudo bash scripts/sk-dummy.sh (or sudo npm run test:deps)';

/**
 * Where scripts/sk-dummy.sh puts OpenSSH's regress sk-dummy middleware (SSH_SK_PROVIDER), built
 * from Debian's openssh source: $KNOCKSPA_LAB_CACHE/sk-dummy/sk-dummy.so.
 */
export function skDummyPath(): string {
  return join(labCacheDir(), 'sk-dummy', 'sk-dummy.so');
}

/** What the checks look at; tests of this module pass a fake one. */
export interface Machine {
  readonly platform: NodeJS.Platform;
  readonly isRoot: boolean;
  /** The PATH tools are looked up in. */
  readonly path: string;
  /** True when CI=true: a missing need is then a failure, not a skip. */
  readonly ci: boolean;
  /** Loads a module by name; throws if it cannot. */
  loadModule(name: string): unknown;
  /** Whether `ip netns list` works. */
  netnsWorks(): boolean;
  /** Where OpenSSH's sk-dummy middleware should be ({@link skDummyPath} on this machine). */
  readonly skDummy: string;
}

const requireHere = createRequire(import.meta.url);

/** This machine, as the process sees it now. */
export function thisMachine(): Machine {
  return {
    platform: process.platform,
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
    path: process.env.PATH ?? '',
    ci: process.env.CI === 'true',
    loadModule: (name): unknown => requireHere(name) as unknown,
    netnsWorks: () => {
      try {
        return spawnSync('ip', ['netns', 'list'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
      } catch {
        return false;
      }
    },
    skDummy: skDummyPath(),
  };
}

/** The absolute path of executable `name` in the first PATH directory that has it, or null. */
export function findTool(name: string, path: string): string | null {
  for (const dir of path.split(':')) {
    if (!isAbsolute(dir)) continue;
    const file = join(dir, name);
    try {
      if (!statSync(file).isFile()) continue;
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

function isTool(need: Need): need is Tool {
  return Object.hasOwn(TOOL_PACKAGES, need);
}

/** 'not Linux' or 'not root', or null when this is root on Linux. */
function rootProblem(machine: Machine): string | null {
  if (machine.platform !== 'linux') return 'not Linux';
  if (!machine.isRoot) return 'not root';
  return null;
}

/** "missing a, b (not on PATH): apt-get install pkg…" for the tools of `needs` not on PATH, or null. */
function missingTools(needs: Iterable<Need>, machine: Machine): string | null {
  const byPackage = new Map<string, string[]>();
  for (const need of needs) {
    if (!isTool(need) || findTool(need, machine.path) !== null) continue;
    const pkg = TOOL_PACKAGES[need];
    byPackage.set(pkg, [...(byPackage.get(pkg) ?? []), need]);
  }
  if (byPackage.size === 0) return null;
  return `missing ${[...byPackage.values()].flat().join(', ')} (not on PATH): apt-get install ${[...byPackage.keys()].join(' ')}`;
}

/**
 * Why this machine cannot make network namespaces ('not root', a missing `ip`, ...), or null if
 * it can. Short, for the demo and the benchmarks to print in their own words.
 */
export function netnsUnavailableReason(machine: Machine = thisMachine()): string | null {
  const noRoot = rootProblem(machine);
  if (noRoot !== null) return noRoot;
  const noIp = missingTools(['ip'], machine);
  if (noIp !== null) return noIp;
  if (!machine.netnsWorks()) return '`ip netns list` does not work';
  return null;
}

/**
 * One line saying what of `needs` this machine lacks and how to get it, or null if nothing is
 * missing. Tools are grouped by the Debian package that brings them.
 */
export function unmetNeeds(needs: readonly Need[], machine: Machine = thisMachine()): string | null {
  const problems: string[] = [];
  // Root and `ip` first: without them nothing else of a namespace test matters.
  const wanted = new Set<Need>(needs.includes('netns') ? ['netns', 'root', 'ip', ...needs] : needs);
  const noRoot = wanted.has('root') ? rootProblem(machine) : null;
  if (noRoot !== null) problems.push(wanted.has('netns') ? `${SKIP_MESSAGE} (${noRoot})` : `needs root (${noRoot}); run: sudo npm test`);
  const tools = missingTools(wanted, machine);
  if (tools !== null) problems.push(tools);
  // Only worth asking when root and `ip` are there.
  if (wanted.has('netns') && problems.length === 0 && !machine.netnsWorks())
    problems.push(`${SKIP_MESSAGE} (\`ip netns list\` does not work)`);
  if (wanted.has('pcap')) {
    try {
      machine.loadModule('pcap');
    } catch (err) {
      problems.push(`missing the pcap module (${(err as Error).message.split('\n')[0]}): install ${PCAP_HINT}`);
    }
  }
  if (wanted.has('sk-dummy')) {
    let built = false;
    try {
      built = statSync(machine.skDummy).isFile();
    } catch {
      // not built
    }
    if (!built) problems.push(`missing OpenSSH's sk-dummy middleware (${machine.skDummy}): ${SK_DUMMY_HINT}`);
  }
  return problems.length === 0 ? null : problems.join('; ');
}

/** The bit of node:test's TestContext a skip needs (structural, so the demo can pass its own). */
export interface SkippableContext {
  skip(message?: string): void;
}

/**
 * True when this machine has everything in `needs`. Otherwise: with CI=true throws, since a skip
 * there would hide that nothing was tested; elsewhere marks the test skipped (one line: what is
 * missing, which package brings it) and returns false.
 */
export function requires(t: SkippableContext, needs: readonly Need[], machine: Machine = thisMachine()): boolean {
  const unmet = unmetNeeds(needs, machine);
  if (unmet === null) return true;
  if (machine.ci) throw new Error(`${unmet}; CI=true: a skip there is a failure`);
  t.skip(unmet);
  return false;
}
