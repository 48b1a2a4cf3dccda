#!/usr/bin/env bash
# Installs splitbrain and what it needs on Debian 12, as root. Idempotent.
#   scripts/setup.sh          runtime: Redis, etcd, iptables, iproute2, gcc (clock shim), the package
#   scripts/setup.sh --cassandra   also Java 17 and Maven for `--db cassandra`
#   scripts/setup.sh --kafka       also Java 17 and Maven, and Kafka's jars, for `--db kafka`
#   scripts/setup.sh --test   everything the test suite needs (Chromium, sshd, sudo, Docker,
#                             debootstrap, Java, pytest, hypothesis), and starts dockerd
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST=0
WITH_CASSANDRA=0
WITH_KAFKA=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1; WITH_CASSANDRA=1; WITH_KAFKA=1 ;;
    --cassandra) WITH_CASSANDRA=1 ;;
    --kafka) WITH_CASSANDRA=1; WITH_KAFKA=1 ;;
    *) echo "scripts/setup.sh: unknown option $arg (allowed: --test, --cassandra, --kafka)" >&2; exit 254 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/setup.sh installs Debian packages and must run as root (try: sudo bash scripts/setup.sh)" >&2
  exit 254
fi
export DEBIAN_FRONTEND=noninteractive
PKGS="python3 redis-server redis-sentinel redis-tools etcd-server iptables iproute2 libfaketime faketime gcc libc6-dev procps netcat-openbsd"
# disk faults: the sbfs FUSE filesystem is built against libfuse3 (nemesis/disk.py)
PKGS="$PKGS fuse3 libfuse3-dev pkg-config"
[ "$WITH_TEST" = 1 ] && PKGS="$PKGS chromium"
# --- ssh backend ---------------------------------------------------------------------
# The controller speaks SSH through paramiko (a Python dependency). The tests start their
# own sshd daemons inside network namespaces (tests/ssh/sshd.py) and need the server and
# ssh-keygen; the system's ssh service is never used (policy-rc.d below keeps apt from
# starting it). sudo: tests/ssh/test_ssh_sudo.py logs in as a throwaway non-root user
# (password auth) and drives the backend's "sudo when not root" path.
[ "$WITH_TEST" = 1 ] && PKGS="$PKGS openssh-server openssh-client sudo"
# --- end ssh backend -----------------------------------------------------------------
# --- cassandra ---------------------------------------------------------------------------
# `--db cassandra` runs CassandraDaemon on Java 17 from jars Maven resolves from Maven
# Central into a cache on first use (harness/dbs/cassandra_install.py).
[ "$WITH_CASSANDRA" = 1 ] && PKGS="$PKGS openjdk-17-jre-headless maven"
# --- end cassandra -----------------------------------------------------------------------
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get update -qq
  # policy-rc.d keeps Debian from starting its own redis/sentinel/etcd services: splitbrain
  # starts its own processes in namespaces and never uses the system ones.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends $missing
fi

# --- linearizability native core ------------------------------------------------------
# `pip install -e .` builds native/ (Rust, PyO3) into splitbrain._native with
# setuptools-rust (fetched by pip as a build requirement). It needs cargo: rustup's in
# ~/.cargo/bin when present, else Debian's. The extension is optional: without cargo, or
# if the build fails, the install still succeeds and the checker uses its Python engine.
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends cargo rustc; } ||
    echo "cargo not installable: the linearizability checker will use its Python engine" >&2
fi
# --- end linearizability native core --------------------------------------------------
EXTRA=""
[ "$WITH_TEST" = 1 ] && EXTRA="[test]"
PY=python3
externally_managed=$($PY -c 'import os,sysconfig; print(int(os.path.exists(os.path.join(sysconfig.get_path("stdlib"),"EXTERNALLY-MANAGED"))))')
if [ "$externally_managed" = 1 ] || ! $PY -m pip --version >/dev/null 2>&1; then
  # Debian's own python3 refuses system-wide pip installs (PEP 668): use a venv.
  dpkg -s python3-venv >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq python3-venv python3-pip; }
  VENV=/opt/splitbrain/venv
  [ -x "$VENV/bin/python" ] || $PY -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".$EXTRA"
  ln -sf "$VENV/bin/splitbrain" /usr/local/bin/splitbrain
  echo "$VENV/bin/python" > .python-path
else
  $PY -m pip install -q -e ".$EXTRA"
  command -v python3 > .python-path
fi
echo "splitbrain installed: $(command -v splitbrain)"
# --- kafka: jars from Maven Central into the cache (harness/dbs/kafka/install.py) ----------
[ "$WITH_KAFKA" = 1 ] && "$(cat .python-path)" -m splitbrain install kafka
# --- end kafka -------------------------------------------------------------------------------

# ---- docker backend (owned by the docker backend; the lead owns the rest of this file) ----
# With --test: the Docker engine (Debian's docker.io) and debootstrap (offline node image),
# and a dockerd started in the background when none answers (no systemd here). Bounded
# wait; on failure the log tail is printed and the docker tests fail with that reason.
if [ "$WITH_TEST" = 1 ]; then
  dmissing=""
  for p in docker.io debootstrap; do dpkg -s "$p" >/dev/null 2>&1 || dmissing="$dmissing $p"; done
  if [ -n "$dmissing" ]; then
    apt-get update -qq
    if [ ! -e /usr/sbin/policy-rc.d ]; then  # keep Debian from starting services itself
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -qq --no-install-recommends $dmissing
  fi
  if ! docker info >/dev/null 2>&1; then
    DLOG=/var/log/splitbrain-dockerd.log
    echo "starting dockerd in the background (log: $DLOG)"
    # The storage driver is dockerd's choice (overlay2 where the kernel has it, else vfs).
    setsid nohup dockerd >>"$DLOG" 2>&1 < /dev/null &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    if docker info >/dev/null 2>&1; then
      echo "dockerd is up (storage driver: $(docker info -f '{{.Driver}}' 2>/dev/null))"
    else
      echo "dockerd did not come up within 30 s; last log lines:" >&2
      tail -n 15 "$DLOG" >&2 || true
    fi
  fi
fi
# ---- end of docker backend section ----
