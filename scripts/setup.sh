#!/usr/bin/env bash
# Installs everything splitbrain and its tests need on Debian 12, as root. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
PKGS="redis-server redis-sentinel redis-tools iptables iproute2 libfaketime faketime gcc libc6-dev procps chromium"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing
fi
# Debian starts a system redis on 127.0.0.1:6379; splitbrain never uses it.
python3 -m pip install -q -e ".[test]"
