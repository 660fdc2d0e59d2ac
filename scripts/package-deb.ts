/**
 * `npm run package:deb`: builds knockspa_VERSION_all.deb in the checkout's root with dpkg-deb, from
 * the built dist/ (run after `npm run build`) and the files in packaging/. The only network use is
 * `npm ci --omit=dev` for the production node_modules.
 *
 * Layout: /usr/lib/knockspa (package.json, dist/src, node_modules), /usr/bin/knockspa (symlink),
 * /lib/systemd/system/knockspa.service, /etc/knockspa/server.toml (conffile, no users),
 * /etc/knockspa/keys (0700), /var/lib/knockspa (0700), man pages knockspa(1) and
 * knockspa-server.toml(5). The optional pcap module is not shipped: the package is
 * Architecture: all, and `listen = "pcap"` needs `npm install pcap` (docs/operations.md).
 *
 *   node dist/scripts/package-deb.js [--out DIR]
 * @module
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; description: string };
const DEB = join(ROOT, 'packaging', 'deb');
/** Debian's nodejs in trixie is 20.19; package.json's engines say the same. */
const NODE_DEPENDS = 'nodejs (>= 20.19)';

function sh(argv: string[], cwd = ROOT): void {
  execFileSync(argv[0] as string, argv.slice(1), { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory() === true) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** gzip -9n equivalent: no name, no timestamp (lintian: package-contains-timestamped-gzip). */
function gz(text: string | Buffer): Buffer {
  const z = gzipSync(text, { level: 9 });
  z.writeUInt32LE(0, 4); // MTIME = 0
  return z;
}

function main(): void {
  const outIndex = process.argv.indexOf('--out');
  const outDir = outIndex > 0 ? (process.argv[outIndex + 1] as string) : ROOT;
  if (!existsSync(join(ROOT, 'dist', 'src', 'knockspa.cjs'))) throw new Error('dist/ is missing: run `npm run build` first');
  const stage = join(ROOT, 'build', 'deb', `${PKG.name}_${PKG.version}_all`);
  rmSync(stage, { recursive: true, force: true });
  const lib = join(stage, 'usr', 'lib', 'knockspa');
  mkdirSync(lib, { recursive: true });

  // The program: tsc output and the client bundle, without source maps (their sources are not shipped).
  cpSync(join(ROOT, 'dist', 'src'), join(lib, 'dist', 'src'), { recursive: true, filter: (src) => !src.endsWith('.map') });
  cpSync(join(ROOT, 'package.json'), join(lib, 'package.json'));
  cpSync(join(ROOT, 'package-lock.json'), join(lib, 'package-lock.json'));
  // Production dependencies only; no scripts (the root's `prepare` would rebuild), no optional pcap.
  sh(['npm', 'ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], lib);
  rmSync(join(lib, 'package-lock.json'));
  rmSync(join(lib, 'node_modules', '.package-lock.json'), { force: true });
  pruneNodeModules(join(lib, 'node_modules'));

  const bin = join(stage, 'usr', 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync('../lib/knockspa/dist/src/knockspa.cjs', join(bin, 'knockspa'));

  const unitDir = join(stage, 'lib', 'systemd', 'system');
  mkdirSync(unitDir, { recursive: true });
  cpSync(join(ROOT, 'packaging', 'knockspa.service'), join(unitDir, 'knockspa.service'));

  // /run/xtables.lock must exist before the unit starts (ReadWritePaths=, see the unit).
  const tmpfiles = join(stage, 'usr', 'lib', 'tmpfiles.d');
  mkdirSync(tmpfiles, { recursive: true });
  cpSync(join(DEB, 'tmpfiles.conf'), join(tmpfiles, 'knockspa.conf'));

  const etc = join(stage, 'etc', 'knockspa');
  mkdirSync(join(etc, 'keys'), { recursive: true });
  cpSync(join(DEB, 'server.toml'), join(etc, 'server.toml'));
  chmodSync(join(etc, 'server.toml'), 0o644);
  chmodSync(join(etc, 'keys'), 0o700);
  const state = join(stage, 'var', 'lib', 'knockspa');
  mkdirSync(state, { recursive: true });
  chmodSync(state, 0o700);

  for (const [section, page] of [
    ['1', 'knockspa.1'],
    ['5', 'knockspa-server.toml.5'],
  ] as const) {
    const dir = join(stage, 'usr', 'share', 'man', `man${section}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${page}.gz`), gz(readFileSync(join(ROOT, 'packaging', 'man', page))));
  }

  const doc = join(stage, 'usr', 'share', 'doc', 'knockspa');
  mkdirSync(doc, { recursive: true });
  writeFileSync(join(doc, 'copyright'), copyright(join(lib, 'node_modules')));
  // Their texts are in the copyright file now (lintian: extra-license-file).
  for (const f of walk(join(lib, 'node_modules'))) if (/^(LICEN[CS]E|COPYING)/i.test(f.slice(f.lastIndexOf('/') + 1))) rmSync(f);
  writeFileSync(join(doc, 'changelog.gz'), gz(readFileSync(join(DEB, 'changelog'))));

  // Lintian overrides, each with its reason (packaging/deb/lintian-overrides).
  const overrides = join(stage, 'usr', 'share', 'lintian', 'overrides');
  mkdirSync(overrides, { recursive: true });
  cpSync(join(DEB, 'lintian-overrides'), join(overrides, 'knockspa'));

  // Modes: 0644 files, 0755 for the scripts (#!) of knockspa itself.
  for (const f of walk(stage)) {
    if (lstatSync(f).isSymbolicLink()) continue;
    const script = f.startsWith(join(lib, 'dist') + '/') && readFileSync(f).subarray(0, 2).toString() === '#!';
    chmodSync(f, script ? 0o755 : 0o644);
  }

  // Control area.
  const control = join(stage, 'DEBIAN');
  mkdirSync(control, { recursive: true });
  const files = walk(stage).filter((f) => !f.startsWith(control + '/'));
  const kib = Math.ceil(files.reduce((n, f) => n + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0) / 1024);
  writeFileSync(
    join(control, 'control'),
    [
      `Package: ${PKG.name}`,
      `Version: ${PKG.version}`,
      'Architecture: all',
      'Maintainer: knockspa contributors <knockspa@localhost>',
      `Installed-Size: ${kib}`,
      // init-system-helpers: deb-systemd-invoke and deb-systemd-helper in the maintainer scripts.
      `Depends: ${NODE_DEPENDS}, iptables | nftables, init-system-helpers (>= 1.54~)`,
      'Section: net',
      'Priority: optional',
      `Description: ${PKG.description.split(':')[0]?.toLowerCase()}`,
      ' knockspa keeps a port (SSH, or any other) closed and opens it, for one address',
      ' and for a while, when it receives one UDP packet that only a holder of a',
      " user's key can make: encrypted, signed, naming the ports, the address and the",
      ' server, and usable once. The daemon sends nothing back to anyone.',
      ' .',
      ' This package holds the client (knockspa open, close, connect) and the daemon',
      ' (knockspa server, a systemd service that is installed but not enabled), with',
      ' nftables, iptables and command firewall backends.',
      '',
    ].join('\n'),
  );
  writeFileSync(join(control, 'conffiles'), '/etc/knockspa/server.toml\n');
  for (const script of ['postinst', 'prerm', 'postrm']) {
    cpSync(join(DEB, script), join(control, script));
    chmodSync(join(control, script), 0o755);
  }
  writeFileSync(
    join(control, 'md5sums'),
    files
      .filter((f) => lstatSync(f).isFile() && !f.startsWith(join(stage, 'etc') + '/'))
      .map((f) => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${relative(stage, f)}\n`)
      .sort()
      .join(''),
  );

  const deb = join(outDir, `${PKG.name}_${PKG.version}_all.deb`);
  sh(['dpkg-deb', '--root-owner-group', '-Zxz', '--build', stage, deb]);
  process.stdout.write(`${deb}\n`);
}

/** What a running program does not need; lintian also flags some of it (extra license files, docs). */
function pruneNodeModules(dir: string): void {
  for (const f of walk(dir)) {
    const base = f.slice(f.lastIndexOf('/') + 1);
    // Docs, types, dotfiles, shell scripts of their own development, pino's CLI and its docs page
    // (which loads scripts from CDNs: lintian privacy-breach-generic).
    if (
      /^(README|CHANGELOG|HISTORY|CONTRIBUTING|SECURITY)(\..*)?$/i.test(base) ||
      /\.(md|markdown|map|ts|mts|cts|html|sh)$/.test(base) ||
      base.startsWith('.') ||
      f.endsWith('/pino/bin.js')
    )
      rmSync(f);
  }
  for (const sub of ['docs', 'test', 'tests', 'benchmarks', 'benchmark', 'examples', '.github', '.husky']) {
    for (const d of readdirSync(dir, { recursive: true, withFileTypes: true }))
      if (d.isDirectory() && d.name === sub) rmSync(join(d.parentPath, d.name), { recursive: true, force: true });
  }
  removeEmptyDirs(dir);
}

function removeEmptyDirs(dir: string): boolean {
  let empty = true;
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (d.isDirectory() && removeEmptyDirs(join(dir, d.name))) rmSync(join(dir, d.name), { recursive: true });
    else empty = false;
  }
  return empty;
}

/** Licences whose text Debian keeps in /usr/share/common-licenses (lintian: copyright-file-contains-full-*). */
const COMMON_LICENSES: ReadonlyMap<string, string> = new Map([['Apache-2.0', '/usr/share/common-licenses/Apache-2.0']]);

/** The package's copyright file: knockspa's MIT licence, then each bundled module's own licence text. */
function copyright(modules: string): string {
  const parts = [readFileSync(join(ROOT, 'LICENSE'), 'utf8').trim(), '', 'Bundled Node.js modules (/usr/lib/knockspa/node_modules):'];
  const dirs = readdirSync(modules).flatMap((n) =>
    n.startsWith('@') ? readdirSync(join(modules, n)).map((m) => `${n}/${m}`) : n.startsWith('.') ? [] : [n],
  );
  for (const name of dirs.sort()) {
    const pkg = JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8')) as { version: string; license?: string };
    const licenseFile = readdirSync(join(modules, name)).find((f) => /^(LICEN[CS]E|COPYING)/i.test(f));
    parts.push('', `${name} ${pkg.version} — ${pkg.license ?? 'see below'}`);
    // Debian ships licences of its own (policy 12.5): name the file rather than copy the text.
    const common = COMMON_LICENSES.get(pkg.license ?? '');
    if (common !== undefined) parts.push(`  On Debian systems the full text of the ${pkg.license} licence is in ${common}.`);
    else if (licenseFile !== undefined)
      parts.push(
        readFileSync(join(modules, name, licenseFile), 'utf8')
          .trim()
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n'),
      );
  }
  return `${parts.join('\n')}\n`;
}

main();
