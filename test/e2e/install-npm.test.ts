/**
 * The npm install path: `npm pack` of the built checkout, then `npm install -g` of that tarball
 * into a fresh prefix with only node and npm on PATH (no compiler, no python, no make: the optional
 * pcap module may not build, and nothing else may need to), preferring npm's cache: `npm ci` filled
 * it with tarballs only, and a global install also reads each dependency's registry metadata (its
 * ranges are resolved anew: a tarball carries no lockfile), which a fresh machine has not cached.
 * The installed command must run the client (keygen) and the server half
 * (`server --check` on a dry-run config), and the tarball must hold the build, not the sources.
 * Needs no root.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../support/knockspa.js';
import { NODE, run } from '../lab/process.js';

function which(tool: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

test('npm pack, then npm install -g of the tarball with no compiler: the command works', { timeout: 300_000 }, async (t) => {
  const npm = which('npm');
  if (npm === null) {
    if (process.env.CI === 'true') throw new Error('npm not on PATH');
    t.skip('npm not on PATH');
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'knockspa-npm-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const pack = await run(null, [npm, 'pack', '--pack-destination', work, '--loglevel=error'], { cwd: REPO_ROOT, timeoutMs: 120_000 });
  assert.equal(pack.code, 0, pack.stderr);
  const tarball = join(work, pack.stdout.trim().split('\n').pop() as string);
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
  assert.ok(files.includes('package/dist/src/knockspa.cjs'), 'the built command is in the tarball');
  assert.ok(files.includes('package/LICENSE'));
  assert.ok(!files.some((f) => /^package\/src\/.*\.ts$/.test(f)), 'no TypeScript sources in the tarball');

  // PATH: node and npm only.
  const tools = join(work, 'tools');
  mkdirSync(tools);
  symlinkSync(NODE, join(tools, 'node'));
  symlinkSync(realpathSync(npm), join(tools, 'npm'));
  const prefix = join(work, 'prefix');
  // The registry is reached the way this machine reaches it (proxy, extra CA, npm's own settings).
  const network = Object.entries(process.env).filter(([name]) =>
    /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|(https?|no|all)_proxy|npm_config_(registry|cafile|ca|strict_ssl|proxy|https_proxy|noproxy))$/i.test(
      name,
    ),
  );
  const env = {
    ...Object.fromEntries(network),
    PATH: tools,
    HOME: process.env.HOME ?? '/root',
    npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? '/root', '.npm'),
  };
  const install = await run(null, ['npm', 'install', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund'], {
    env,
    cwd: work,
    timeoutMs: 240_000,
  });
  assert.equal(install.code, 0, `npm install -g failed:\n${install.stdout}\n${install.stderr}`);
  const knockspa = join(prefix, 'bin', 'knockspa');
  assert.ok(existsSync(knockspa), 'bin/knockspa installed');
  assert.ok(!realpathSync(knockspa).startsWith(REPO_ROOT), 'the command is a copy, not a link into the checkout');

  const keys = join(work, 'keys');
  const keygen = await run(null, [knockspa, 'keygen', '--user', 'alice', '--server-id', 'srv.test', '--out', keys], {
    env: { PATH: tools },
  });
  assert.equal(keygen.code, 0, keygen.stderr);
  assert.match(readFileSync(join(keys, 'alice.key'), 'utf8'), /srv\.test/);
  const config = join(work, 'server.toml');
  writeFileSync(
    config,
    `firewall = "dry-run"\nserver_id = "srv.test"\nkeys_dir = "keys"\nstate_dir = "state"\n\n[users.alice]\nports = ["tcp/22"]\n`,
  );
  const check = await run(null, [knockspa, 'server', '--config', config, '--check'], { env: { PATH: tools } });
  assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
  assert.match(check.stdout, /ok \(1 user, firewall dry-run/);
});
