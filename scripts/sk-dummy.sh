#!/usr/bin/env bash
# Builds OpenSSH's software security key, regress/misc/sk-dummy (a FIDO middleware for
# SSH_SK_PROVIDER that signs without hardware, made for OpenSSH's own regress tests), from Debian's
# openssh source package, for the installed openssh-client's version. test/e2e/ssh-sk-keys.test.ts
# uses it; scripts/test-deps.sh calls this (as root, Debian, after installing gcc, make, libssl-dev).
#
# Output: $KNOCKSPA_LAB_CACHE/sk-dummy/sk-dummy.so (default /var/cache/knockspa-lab), with the
# openssh-client version it was built for beside it; rebuilt only when that version changes.
#
# Why the .orig tarball and not the patched tree: Debian's patches change configure.ac, and the
# packaged configure then refuses to run without autoreconf (autoconf, automake). The tarball is
# the upstream release Debian builds from; no Debian patch touches sk-dummy, and the middleware
# API version (sk-api.h) is the release's, the same as the installed ssh-agent's and ssh-keygen's.
set -euo pipefail

CACHE=${KNOCKSPA_LAB_CACHE:-/var/cache/knockspa-lab}/sk-dummy
SO=$CACHE/sk-dummy.so
say() { printf 'sk-dummy: %s\n' "$*"; }

version=$(dpkg-query -W -f='${Version}' openssh-client 2>/dev/null) || {
  echo "sk-dummy: openssh-client is not installed" >&2
  exit 1
}
if [ -f "$SO" ] && [ "$(cat "$CACHE/openssh-version" 2>/dev/null)" = "$version" ]; then
  say "built for openssh-client $version: $SO"
  exit 0
fi

# shellcheck source=/dev/null
. /etc/os-release
if [ "${ID:-}" != debian ] || [ -z "${VERSION_CODENAME:-}" ]; then
  echo "sk-dummy: needs Debian (its source archive); this is ${PRETTY_NAME:-unknown}" >&2
  exit 1
fi
# "1:9.2p1-2+deb12u10" -> "9.2p1": the upstream release, the .orig tarball's name.
upstream=${version#*:}
upstream=${upstream%-*}

started=$(date +%s)
work=$(mktemp -d /tmp/knockspa-sk-dummy.XXXXXX)
trap 'rm -rf "$work"' EXIT
# _apt (apt's download sandbox) writes into the work directory.
chmod 0755 "$work"

# A private deb-src list and package lists: the machine's apt configuration stays as it is.
mkdir -p "$work/apt/sources.list.d" "$work/apt/lists/partial"
: >"$work/apt/sources.list"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$work/apt/sources.list.d/debian-src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $VERSION_CODENAME $VERSION_CODENAME-updates
Components: main
Signed-By: $keyring

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $VERSION_CODENAME-security
Components: main
Signed-By: $keyring
EOF
apt=(-q -o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=$work/apt/sources.list.d"
  -o "Dir::State::Lists=$work/apt/lists")
say "fetching Debian's openssh source for openssh-client $version ($VERSION_CODENAME)"
apt-get "${apt[@]}" update >"$work/apt.log" 2>&1 || {
  cat "$work/apt.log" >&2
  exit 1
}
# The installed version's source, or (once the archive has moved on) any with the same upstream release.
(cd "$work" && { apt-get "${apt[@]}" source --download-only "openssh=$version" || apt-get "${apt[@]}" source --download-only openssh; }) \
  >>"$work/apt.log" 2>&1 || {
  cat "$work/apt.log" >&2
  exit 1
}
orig=$work/openssh_$upstream.orig.tar.gz
if [ ! -f "$orig" ]; then
  echo "sk-dummy: Debian's archive has no openssh_$upstream.orig.tar.gz for $VERSION_CODENAME (got: $(cd "$work" && echo openssh_*))" >&2
  exit 1
fi
mkdir "$work/src"
tar -xzf "$orig" -C "$work/src" --strip-components=1

# Only what sk-dummy needs: libcrypto (ECDSA) and dlopen; no zlib, PAM, Kerberos, libfido2.
say "configure and build (openssh $upstream)"
# (&& throughout: set -e does not apply inside a subshell whose status is tested.)
(
  cd "$work/src" &&
    ./configure --without-zlib --without-pam --without-selinux --without-kerberos5 --without-libedit \
      --without-security-key-builtin >"$work/build.log" 2>&1 &&
    grep -q '^SK_DUMMY_LIBRARY=regress/misc/sk-dummy/sk-dummy.so' Makefile &&
    # The compat library first: the .so's rule links it but does not depend on it.
    make -j"$(nproc)" openbsd-compat/libopenbsd-compat.a >>"$work/build.log" 2>&1 &&
    make -j"$(nproc)" regress/misc/sk-dummy/sk-dummy.so >>"$work/build.log" 2>&1
) || {
  tail -n 40 "$work/build.log" >&2
  echo "sk-dummy: the build failed (above: the end of its log)" >&2
  exit 1
}
built=$work/src/regress/misc/sk-dummy/sk-dummy.so

# The installed ssh-keygen must accept it as its middleware before it is kept.
SSH_SK_PROVIDER=$built ssh-keygen -q -t ed25519-sk -N '' -C sk-dummy-check -f "$work/check" </dev/null >"$work/check.log" 2>&1 || {
  cat "$work/check.log" >&2
  echo "sk-dummy: ssh-keygen -t ed25519-sk with the built middleware failed" >&2
  exit 1
}

mkdir -p "$CACHE"
install -m 0755 "$built" "$SO.new"
mv -f "$SO.new" "$SO"
printf '%s\n' "$version" >"$CACHE/openssh-version"
say "built $SO for openssh-client $version in $(($(date +%s) - started)) s"
