#!/usr/bin/env bash
# `npm run test:deps` (as root, Debian or Ubuntu): installs the Debian packages the tests, the
# benchmarks and the demo use, only those not installed yet, without recommends, non-interactive.
# .ci/run calls it. A test that needs one of them declares it (test/lab/requirements.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

# The one list: add a package here, with what needs it.
packages=(
  iproute2                      # ip netns, veth pairs, ss: every e2e test, doctor
  iptables                      # the base ruleset, the iptables backend and its legacy variant
  nftables                      # the nftables backend; every scenario flushes the nft ruleset
  tcpdump                       # the stealth tests' captures
  libpcap-dev g++ make python3  # to build the optional pcap module (listen = "pcap")
  openssh-server openssh-client # the ssh ProxyCommand tests
  fwknop-client fwknop-server   # the fwknop-format tests, against Debian's fwknop
  debootstrap systemd-container dbus debian-archive-keyring util-linux # the package test: Debian 13 booted under systemd-nspawn
  lintian                       # checks the Debian package (npm run package:deb)
  redis-server                  # the cluster tests and benchmark: a group's shared Redis
                                # (also its Sentinel: cluster-sentinel.test.ts runs redis-server --sentinel)
  gcc libc6-dev libssl-dev      # to build OpenSSH's software security key, sk-dummy (scripts/sk-dummy.sh)
)

if [ "$(id -u)" -ne 0 ]; then
  echo "test-deps: run as root (sudo npm run test:deps): it installs Debian packages" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
  echo "test-deps: needs apt-get and dpkg (Debian or Ubuntu); install by hand: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "test-deps: all ${#packages[@]} packages installed"
else
  echo "test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -q --no-install-recommends "${missing[@]}"; }
  # Package lists are fetched only when the ones here cannot serve the install (none yet, or stale).
  if ! apt_install; then
    echo "test-deps: apt-get update, then again"
    apt-get update -q
    apt_install
  fi
fi

# The pcap module's native part builds only with libpcap-dev present: rebuild one that npm
# installed before it was (a missing module is fetched by the next `npm ci`).
if [ -d node_modules/pcap ] && ! node -e "require('pcap')" >/dev/null 2>&1; then
  echo "test-deps: npm rebuild pcap"
  npm rebuild pcap
fi

# OpenSSH's software security key for the security-key knock tests, built once per openssh-client
# version from Debian's source package (a few minutes the first time; cached). SK_DUMMY=later leaves
# it to the caller (.ci/run builds it beside its other steps).
if [ "${SK_DUMMY:-now}" != later ]; then
  bash scripts/sk-dummy.sh
fi
