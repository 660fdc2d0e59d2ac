/**
 * The README's first two commands on a fresh machine: a Debian 13 root (debootstrap minbase plus
 * nodejs, npm, git and ca-certificates; cached) gets a `git clone` of this checkout's committed HEAD
 * (not its dist/ or node_modules/), and the first two lines of the README's first ```sh block run
 * there as written (`sh -c LINE`), as root, with CI unset: both must exit 0. The machine has no
 * iproute2, iptables, debootstrap or systemd-nspawn, so the demo falls back to its dry-run edition,
 * and `npm test` skips every end-to-end test, naming what is missing (this test among them: no
 * recursion). The demo's non-root path runs too, as nobody.
 *
 * Not booted: `systemd-nspawn --pipe` on the host's network (the npm registry), with the host's npm
 * and CA configuration passed in as configuration (~/.npmrc, NODE_EXTRA_CA_CERTS, proxy variables).
 * Needs root, debootstrap, systemd-container and a Debian mirror; skipped without them, a failure
 * with CI=true. Times go out as diagnostics.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { REPO_ROOT } from '../support/knockspa.js';
import { Machine, makeRoot, nspawnUnavailableReason, type Bind } from '../lab/nspawn.js';

/** What a new Debian 13 gets before the README: Debian's Node and npm, and git to clone with. */
export const FRESH_ROOT = { suite: 'trixie', packages: ['ca-certificates'], aptPackages: ['nodejs', 'npm', 'git'] };
const SRC = '/run/knockspa-src.git';
const CHECKOUT = '/srv/knockspa';
const HOST_CA = '/run/host-ca/extra-ca.pem';

/** The first ```sh block of a Markdown text, as command lines (comment-only and blank lines dropped). */
function firstShBlock(text: string): string[] {
  const block = /```sh\n([\s\S]*?)```/.exec(text)?.[1];
  if (block === undefined) throw new Error('README.md has no ```sh block');
  return block.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

/** The host's npm and CA configuration, as binds and environment for the machine (configuration, not product code). */
function hostNpmConfig(): { binds: Bind[]; env: Record<string, string> } {
  const binds: Bind[] = [];
  const env: Record<string, string> = {};
  const npmrc = join(homedir(), '.npmrc');
  if (existsSync(npmrc)) binds.push({ host: npmrc, guest: '/root/.npmrc', readOnly: true });
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (ca !== undefined && ca !== '' && existsSync(ca)) {
    binds.push({ host: ca, guest: HOST_CA, readOnly: true });
    env.NODE_EXTRA_CA_CERTS = HOST_CA;
  }
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && /^(https?_proxy|no_proxy|npm_config_registry)$/i.test(k)) env[k] = v;
  return { binds, env };
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
}

function tail(s: string, n = 4000): string {
  return s.slice(-n);
}

test(
  "the README's first two commands on a fresh Debian 13: install + demo, then npm test",
  { timeout: 45 * 60_000 },
  async (t: TestContext) => {
    const why = nspawnUnavailableReason();
    if (why !== null) {
      if (process.env.CI === 'true')
        throw new Error(`the fresh-machine test cannot run (${why}); CI must run it, a skip there is a failure`);
      t.skip(`needs root, debootstrap and systemd-nspawn (${why})`);
      return;
    }
    const started = Date.now();
    // The committed HEAD, from the repository's own object store (a worktree's .git is only a pointer).
    const head = git('rev-parse', 'HEAD');
    const gitDir = git('rev-parse', '--path-format=absolute', '--git-common-dir');

    const root = await makeRoot(FRESH_ROOT);
    t.diagnostic(
      `root ${root.cached ? `from the cache (debootstrap took ${root.seconds} s when made)` : `made now: debootstrap ${root.seconds} s`}`,
    );
    const config = hostNpmConfig();
    const m = await Machine.create({
      root: root.path,
      binds: [{ host: gitDir, guest: SRC, readOnly: true }, ...config.binds],
      aptArchives: null,
    });
    t.after(() => m.destroy());
    const inside = (argv: string[], timeoutMs = 120_000, cwd?: string) =>
      m.unbooted(argv, { timeoutMs, extraEnv: config.env, ...(cwd === undefined ? {} : { cwd }) });

    // A clone, not a copy: only what is committed comes along. Any SHA may be fetched (CI may be on a detached HEAD).
    const clone = await inside([
      'sh',
      '-ec',
      `git -c safe.directory='*' clone -q --no-checkout file://${SRC} ${CHECKOUT} && cd ${CHECKOUT} && git -c safe.directory='*' -c uploadpack.allowAnySHA1InWant=true fetch -q origin ${head} && git checkout -q --detach ${head}`,
    ]);
    assert.equal(clone.code, 0, `git clone: ${clone.stderr}`);
    for (const untracked of ['dist', 'node_modules'])
      assert.ok(!existsSync(join(m.merged, CHECKOUT, untracked)), `${untracked}/ came along with the clone`);
    const versions = await inside(['sh', '-c', 'echo "node $(node --version), npm $(npm --version), CI=${CI-unset}, $(id -un)"']);
    t.diagnostic(versions.stdout.trim());
    assert.match(versions.stdout, /CI=unset, root$/m, 'CI is unset, and the commands run as root');

    const lines = firstShBlock(readFileSync(join(m.merged, CHECKOUT, 'README.md'), 'utf8'));
    const [install, npmTest] = lines;
    assert.ok(install !== undefined && npmTest !== undefined, `two command lines in the README's first sh block: ${lines.join(' | ')}`);
    assert.match(install, /^npm ci\b.*\bnpm run demo\b/, 'the first line installs and runs the demo');
    assert.match(npmTest, /^npm test\b/, 'the second line runs the tests');

    await t.test(`${install.split('#')[0]?.trim()} (as root)`, async (st: TestContext) => {
      const s = Date.now();
      const r = await inside(['sh', '-c', install], 20 * 60_000, CHECKOUT);
      st.diagnostic(`line 1 took ${Math.round((Date.now() - s) / 1000)} s`);
      assert.equal(r.code, 0, `${install}\nstdout: ${tail(r.stdout)}\nstderr: ${tail(r.stderr)}`);
      // No iproute2 or iptables here: the root path says why and falls back to the dry-run demo.
      assert.match(r.stdout, /knockspa demo, dry-run edition/, tail(r.stdout));
      assert.match(r.stdout, /missing ip\b.*apt-get install iproute2/, 'the demo names what the real demo needs');
      assert.doesNotMatch(r.stdout, /\bFAIL\b/);
    });

    await t.test('the demo without root (as nobody): the dry-run edition', async () => {
      const r = await inside(['runuser', '-u', 'nobody', '--', 'node', 'dist/scripts/demo.js'], 120_000, CHECKOUT);
      assert.equal(r.code, 0, `demo as nobody\nstdout: ${tail(r.stdout)}\nstderr: ${tail(r.stderr)}`);
      assert.match(r.stdout, /knockspa demo, dry-run edition/);
      assert.match(r.stdout, /not running as root/);
      assert.doesNotMatch(r.stdout, /\bFAIL\b/);
    });

    await t.test(`${npmTest.split('#')[0]?.trim()} (as root)`, async (st: TestContext) => {
      const s = Date.now();
      const r = await inside(['sh', '-c', npmTest], 30 * 60_000, CHECKOUT);
      st.diagnostic(`line 2 took ${Math.round((Date.now() - s) / 1000)} s`);
      const out = r.stdout + r.stderr;
      // The failing tests by name first: the tail alone may not reach them.
      const failing = (r.stdout.match(/^\s*not ok .*$/gm) ?? []).join('\n');
      assert.equal(r.code, 0, `${npmTest}\nfailing:\n${failing}\nstdout: ${tail(r.stdout, 8000)}\nstderr: ${tail(r.stderr)}`);
      // node --test writes TAP when its output is not a terminal.
      const summary = (name: string): number => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(out)?.[1] ?? NaN);
      st.diagnostic(`inside: tests ${summary('tests')}, pass ${summary('pass')}, skipped ${summary('skipped')}, fail ${summary('fail')}`);
      assert.equal(summary('fail'), 0, tail(out));
      assert.ok(summary('pass') > 0, 'tests ran and passed');
      assert.ok(summary('skipped') > 0, 'the end-to-end tests skipped');
      // Root is there, the tools are not: the namespace tests skip, naming the package that brings them.
      assert.match(
        out,
        /^ok \d+ - open \/ connect \/ close # SKIP missing ip\b[^\n]*\(not on PATH\): apt-get install iproute2\b/m,
        `the namespace tests name what is missing:\n${tail(out)}`,
      );
      // No recursion: the nspawn tests (this one too) skip, since the machine has no debootstrap or nspawn.
      assert.match(
        out,
        /fresh Debian 13[^\n]*# SKIP needs root, debootstrap and systemd-nspawn \(\/usr\/sbin\/debootstrap missing/,
        `this test skips inside:\n${tail(out)}`,
      );
      assert.match(
        out,
        /Debian package under systemd[^\n]*# SKIP needs root, debootstrap and systemd-nspawn/,
        'the package test skips inside',
      );
    });
    t.diagnostic(`whole test: ${Math.round((Date.now() - started) / 1000)} s`);
  },
);
