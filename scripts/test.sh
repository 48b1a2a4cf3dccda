#!/usr/bin/env bash
# Sets up everything the test suite needs (as root) and runs the whole suite.
# Extra arguments go to one pytest run instead, e.g.  scripts/test.sh -m "not root"
#
# Without arguments the suite runs in two lanes at once, which together are every test once:
#   - the real-system lane (markers root, docker, kafka, browser: clusters, iptables, Docker,
#     Chromium), one test at a time, streamed; it mostly waits on clusters and time limits;
#   - the pure lane (everything else: checkers, property tests, units), which is CPU-bound
#     and fills the other core meanwhile; its output is printed when both are done.
# The real-system lane's 25 slowest setups/tests (pytest --durations=25) are printed again
# at the very end, so a CI log's tail shows where that lane's time went.
# The real-system lane starts with the Redis runs and leaves the JVM stores (Cassandra,
# Kafka) for last, when the pure lane has usually finished.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
PY=$(cat .python-path 2>/dev/null || command -v python3)
REAL="root or docker or kafka or browser"

verdict() {  # pytest's exit code -> this script's (5: nothing collected is a failure)
  if [ "$1" -eq 5 ]; then echo "no tests were collected${2:+ ($2)}" >&2; return 1; fi
  return "$1"
}

set +e
if [ "$#" -gt 0 ]; then
  "$PY" -m pytest -q -p no:cacheprovider "$@"
  rc=$?
  set -e
  verdict "$rc"
  exit $?
fi

pure_log=$(mktemp /tmp/splitbrain-pure-lane.XXXXXX)
real_log=$(mktemp /tmp/splitbrain-real-lane.XXXXXX)
start=$(date +%s)
"$PY" -m pytest -q -p no:cacheprovider -m "not ($REAL)" tests > "$pure_log" 2>&1 &
pure_pid=$!
trap 'kill -INT "$pure_pid" 2>/dev/null; wait "$pure_pid" 2>/dev/null; rm -f "$pure_log" "$real_log"; exit 130' INT TERM
# the lane's order: the Redis-based folders first, then every other one (Cassandra, docker,
# queue/Kafka ...) alphabetically, then the top-level test files; each path once
first="tests/integration tests/harness tests/nemesis tests/ssh tests/etcd tests/reports"
paths="$first"
for d in tests/*/; do
  d=${d%/}
  case " $first " in *" $d "*) continue ;; esac
  [ -n "$(find "$d" -name 'test_*.py' -print -quit)" ] && paths="$paths $d"
done
for f in tests/test_*.py; do paths="$paths $f"; done
echo "== real-system lane (markers: $REAL), streamed; the pure lane runs alongside =="
# streamed and kept (tee -i: a Ctrl-C reaches pytest, which still prints its summary)
# shellcheck disable=SC2086
"$PY" -m pytest -q -p no:cacheprovider --durations=25 -m "$REAL" $paths | tee -i "$real_log"
real_rc=${PIPESTATUS[0]}
wait "$pure_pid"
pure_rc=$?
trap - INT TERM
echo
echo "== pure lane (not $REAL) =="
cat "$pure_log"
rm -f "$pure_log"
echo
echo "== both lanes done in $(( $(date +%s) - start )) s: real-system lane exit $real_rc, pure lane exit $pure_rc =="
echo
echo "== real-system lane: slowest durations (again) =="
awk '/^=+ slowest [0-9]+ durations =+$/ {on = 1; next} on && /^=/ {exit}
     on && /^([0-9.]+s (setup|call|teardown) |\([0-9]+ durations)/' "$real_log" | grep . ||
  echo "(none: the real-system lane did not get to its summary)"
echo "real-system lane: $(tail -n 1 "$real_log")"
rm -f "$real_log"
set -e
verdict "$real_rc" "real-system lane" || exit $?
verdict "$pure_rc" "pure lane" || exit $?
exit 0
