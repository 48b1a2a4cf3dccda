#!/usr/bin/env bash
# Sets up everything the test suite needs (as root) and runs the whole suite.
# Extra arguments go to pytest, e.g.  scripts/test.sh -m "not root"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
PY=$(cat .python-path 2>/dev/null || command -v python3)
set +e
"$PY" -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$rc"
