"""The ssh cluster backend: existing machines the user names, reached over SSH.

    cluster = SSHCluster("sb1a2b3c", ["10.0.0.5", "db2.example:2222", "10.0.0.7"],
                         user="root", key="~/.ssh/id_ed25519")
    with cluster as nodes:
        nodes[0].name, nodes[0].address, nodes[0].iface   # "n1", "10.0.0.5", "eth0"
        nodes[1].remote.exec(["uname", "-a"])            # over SSH on db2
    # leaving the block calls down(): daemons stopped, rules removed, workdirs deleted

For every host, in order (n1…nN), `up()`:
1. resolves the host name on the controller: that IP is `Node.address`, the address the
   controller's clients and the other nodes use (duplicates are an InputError);
2. records the host in the run registry (kind `remote_hosts`: how to log in again, the
   workdir, later the interface) *before* touching it, so `splitbrain cleanup` can come
   back after a crash;
3. logs in (harness/control/ssh.py: host key verified, sudo detected), checks the tools
   the datastore and the nemeses need and installs what is missing with apt
   (`ensure_tools`), creates the node workdir `<remote_root>/<prefix>/<node>` and checks
   that `address` really is an address of that host (not a NAT or jump host);
4. finds `iface`, the interface carrying the host's traffic toward its peers
   (`ip -o route get <next node's address>`), which the packet nemesis shapes.
Hosts are set up in parallel; if any fails, what was done is undone before raising.

`down()` stops the daemons spawned on the hosts (recorded pids, checked against their
recorded start time and program before any signal), removes iptables rules and chains
carrying the run prefix, the packet nemesis's root qdisc if it is still there, and the
run's workdir on every host, then drops the registry record. It is idempotent. A host
that cannot be reached keeps its record, so a later `splitbrain cleanup` retries.

Unlike netns and docker nodes these machines have routes out: the harness only sends
traffic to the hosts the user named. Node workdirs live on the hosts, not under the
controller's `workdir_root` (accepted so every backend takes the same arguments); the DB
copies logs back into the run directory with `download`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from splitbrain.harness import registry
from splitbrain.harness.cluster.base import BUILTIN_NEEDS, BackendSpec, Node, NodeNeeds, needs_of
from splitbrain.harness.cluster.cleanup import CleanupReport, cleanup
from splitbrain.harness.control.ssh import SSHRemote, SSHTarget, resolve
from splitbrain.harness.errors import EnvironmentProblem, InputError

log = logging.getLogger("splitbrain.ssh")

DEFAULT_REMOTE_ROOT = "/var/tmp/splitbrain"

# command -> Debian package, per datastore (plus what every run needs on a node).
BASE_TOOLS = {"ip": "iproute2", "tc": "iproute2", "iptables": "iptables",
              "iptables-restore": "iptables", "setsid": "util-linux"}

# command -> Debian package per built-in datastore, by name (a view of BUILTIN_NEEDS; runs
# pass their datastore's NodeNeeds instead).
DB_TOOLS = {name: dict(n.tools) for name, n in BUILTIN_NEEDS.items()}

_HOST_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9_.-]+))"
                      r"(?::(?P<port>\d{1,5}))?$")

# $1 workdir, $2 the node's address, $3 a peer's address, then the tools to look for.
_PROBE = r'''w=$1; a=$2; p=$3; shift 3
mkdir -p "$w" || exit 3
for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "missing:$t"; done
if command -v ip >/dev/null 2>&1; then
  echo "local:$(ip -o addr show to "$a" | wc -l)"
  echo "route:$(ip -o route get "$p" 2>&1 | head -n 1)"
fi
'''

# The packages as arguments. Debian starts the services of what it installs; a system
# redis on :6379 would take the port our redis binds, so policy-rc.d forbids that.
_APT_INSTALL = r'''export DEBIAN_FRONTEND=noninteractive
command -v apt-get >/dev/null 2>&1 || { echo "no apt-get on this host" >&2; exit 127; }
made=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made=1
fi
apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$@"; rc=$?
[ "$made" = 1 ] && rm -f /usr/sbin/policy-rc.d
exit $rc
'''


def parse_host(spec: str, where: str = "--node") -> tuple[str, int]:
    """"host", "host:port" or "[v6]:port" → (host, port); InputError naming `where`."""
    s = (spec or "").strip()
    m = _HOST_RE.match(s)
    if not m:
        raise InputError(f"{where}: {spec!r} is not host[:port] (e.g. 10.0.0.5, db1:2222, "
                         "[fd00::5]:22)")
    port = int(m.group("port") or 22)
    if not 1 <= port <= 65535:
        raise InputError(f"{where}: {spec!r}: port {port} is not 1-65535")
    return m.group("v6") or m.group("name"), port


def read_nodes_file(path: str) -> list[str]:
    """The hosts of a nodes file: one `host[:port]` a line, `#` starts a comment, blank
    lines are skipped. A bad line is an InputError naming file:line."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read nodes file: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: nodes file is not UTF-8 text") from None
    hosts = []
    for i, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if len(text.split()) != 1:
            raise InputError(f"{path}:{i}: one host[:port] per line, got {text!r}")
        parse_host(text, f"{path}:{i}")
        hosts.append(text)
    if not hosts:
        raise InputError(f"{path}: no hosts in the nodes file")
    return hosts


def ensure_tools(remote, db: "str | NodeNeeds" = "redis", *, install: bool = True,
                 missing: Sequence[str] | None = None) -> list[str]:
    """Make sure the host has what `db` and the nemeses need; returns the Debian packages
    it installed (empty when everything was there). `missing`: the tools already known
    to be missing (skips the check). Without apt-get, or with install=False, a missing
    tool is an EnvironmentProblem naming the packages to install."""
    tools = {**BASE_TOOLS, **needs_of(db).tools}
    if missing is None:
        script = 'for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "missing:$t"; done'
        out = remote.exec(["sh", "-c", script, "sb", *tools], timeout=30).stdout
        missing = [line[8:] for line in out.splitlines() if line.startswith("missing:")]
    missing = [t for t in missing if t in tools]
    if not missing:
        return []
    pkgs = sorted({tools[t] for t in missing})
    if not install:
        raise EnvironmentProblem(f"{remote.name}: missing {', '.join(missing)}; install "
                                 f"{' '.join(pkgs)} there")
    log.info("%s: installing %s (missing: %s)", remote.name, " ".join(pkgs), ", ".join(missing))
    res = remote.exec(["sh", "-c", _APT_INSTALL, "sb", *pkgs], timeout=900, check=False)
    if res.exit_code != 0:
        raise EnvironmentProblem(
            f"{remote.name}: missing {', '.join(missing)} and `apt-get install "
            f"{' '.join(pkgs)}` failed (exit {res.exit_code}): "
            f"{(res.stderr or res.stdout).strip()[-400:]}")
    return pkgs


class SSHCluster:
    """Nodes on existing hosts over SSH (Cluster protocol, harness/cluster/base.py)."""

    def __init__(self, prefix: str | None = None, hosts: Sequence[str] = (), user: str = "root",
                 key: str | None = None, password: str | None = None, insecure: bool = False,
                 workdir_root: str | None = None, db: "str | NodeNeeds" = "redis", *,
                 known_hosts: Sequence[str] | None = None,
                 remote_root: str = DEFAULT_REMOTE_ROOT, install: bool = True,
                 connect_timeout: float = 10.0):
        self.prefix = registry.validate_prefix(prefix or registry.new_run_prefix())
        if isinstance(hosts, str):
            hosts = [hosts]
        if not hosts:
            raise InputError("--backend ssh needs at least one host (--node or --nodes-file)")
        self.hosts = [parse_host(h) for h in hosts]
        if not user or not re.match(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*$", user):
            raise InputError(f"--ssh-user {user!r} is not a user name")
        if key and not os.path.isfile(os.path.expanduser(key)):
            raise InputError(f"--ssh-key {key}: no such file")
        if not remote_root.startswith("/") or os.path.normpath(remote_root) == "/":
            raise InputError(f"remote root {remote_root!r} must be an absolute directory "
                             "other than /")
        self.user, self.key, self.password, self.insecure = user, key, password, insecure
        self.known_hosts = tuple(known_hosts) if known_hosts else None
        self.workdir_root = workdir_root
        self.db = db
        self.remote_root = os.path.normpath(remote_root)
        self.install = install
        self.connect_timeout = connect_timeout
        self.nodes: list[Node] = []
        self._remotes: dict[str, SSHRemote] = {}
        self.up_seconds: float | None = None

    @property
    def run_dir(self) -> str:
        """The run's directory on every host."""
        return f"{self.remote_root}/{self.prefix}"

    def target(self, host: str, port: int) -> SSHTarget:
        return SSHTarget(host, port, self.user, self.key, self.password, self.insecure,
                         self.known_hosts, self.connect_timeout)

    # -- Cluster protocol ----------------------------------------------------------------
    def up(self) -> list[Node]:
        t0 = time.monotonic()
        rec = registry.load(self.prefix)
        if rec and registry.owner_alive(rec) and rec.get("owner", {}).get("pid") != os.getpid():
            raise InputError(f"run prefix {self.prefix} is already in use by pid "
                             f"{rec['owner']['pid']}; pick another")
        addresses = self._resolve_all()
        registry.open_run(self.prefix, "ssh", user=self.user, remote_root=self.remote_root,
                          hosts=[f"{h}:{p}" for h, p in self.hosts])
        try:
            with ThreadPoolExecutor(max_workers=len(self.hosts)) as pool:
                futs = [pool.submit(self._make_node, i, addresses) for i in range(len(self.hosts))]
                errors, nodes = [], []
                for f in futs:
                    try:
                        nodes.append(f.result())
                    except BaseException as e:
                        errors.append(e)
            if errors:
                # the most actionable first: what the user must fix beats a timeout
                errors.sort(key=lambda e: not isinstance(e, InputError))
                raise errors[0]
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise
        self.nodes = nodes
        self.up_seconds = round(time.monotonic() - t0, 3)
        log.info("ssh cluster %s up in %.2fs: %s", self.prefix, self.up_seconds,
                 [(n.name, n.address, n.iface) for n in nodes])
        return self.nodes

    def down(self) -> CleanupReport:
        """Stop, remove and forget everything this run made on the hosts (idempotent)."""
        from splitbrain.harness.cluster.ssh_cleanup import clean_host, host_entries

        entries = {e.get("node"): e for e in host_entries(self.prefix)}
        rep = CleanupReport()

        def one(item):
            name, remote = item
            entry = entries.get(name)
            if entry is None:
                return [], []
            try:
                removed = clean_host(remote, self.prefix, entry)
            except Exception as e:
                return [], [f"{name}: {e}"]
            registry.discard(self.prefix, "remote_hosts", entry)
            return removed, []

        items = list(self._remotes.items())
        if items:
            with ThreadPoolExecutor(max_workers=len(items)) as pool:
                for removed, errors in pool.map(one, items):
                    rep.removed += removed
                    rep.errors += errors
        for r in self._remotes.values():
            r.close()
        self._remotes.clear()
        self.nodes = []
        # hosts not cleaned above (never connected, or unreachable) are retried by the
        # ssh cleaner inside cleanup(); the record goes once nothing failed
        rest = cleanup(self.prefix)
        rep.removed += rest.removed
        rep.skipped += rest.skipped
        rep.errors += rest.errors
        return rep

    def __enter__(self) -> list[Node]:
        return self.up()

    def __exit__(self, *exc: Any) -> None:
        self.down()

    # -- steps ---------------------------------------------------------------------------
    def _resolve_all(self) -> list[str]:
        addresses = [resolve(h) for h, _ in self.hosts]
        seen: dict[str, int] = {}
        for i, a in enumerate(addresses):
            if a in seen:
                raise InputError(f"ssh hosts {self._spec(seen[a])} and {self._spec(i)} are the "
                                 f"same address {a}: each node needs its own machine")
            seen[a] = i
        return addresses

    def _spec(self, i: int) -> str:
        h, p = self.hosts[i]
        return h if p == 22 else f"{h}:{p}"

    def _make_node(self, i: int, addresses: list[str]) -> Node:
        host, port = self.hosts[i]
        name, address = f"n{i + 1}", addresses[i]
        workdir = f"{self.run_dir}/{name}"
        entry = self._entry(name, host, port, address, iface=None)
        registry.add(self.prefix, "remote_hosts", entry)
        remote = SSHRemote(name, self.target(host, port), run_prefix=self.prefix)
        try:
            remote.connect()
        except BaseException:
            # never logged in, so nothing was made there: nothing for cleanup to visit
            registry.discard(self.prefix, "remote_hosts", entry)
            raise
        self._remotes[name] = remote
        peer = addresses[(i + 1) % len(addresses)] if len(addresses) > 1 else \
            _controller_address(remote)
        tools = {**BASE_TOOLS, **needs_of(self.db).tools}
        probe = _parse_probe(remote.exec(["sh", "-c", _PROBE, "sb", workdir, address, peer,
                                          *tools], timeout=60).stdout)
        if probe["missing"]:
            ensure_tools(remote, self.db, install=self.install, missing=probe["missing"])
            probe = _parse_probe(remote.exec(["sh", "-c", _PROBE, "sb", workdir, address,
                                              peer], timeout=60).stdout)
        if probe.get("local") in (None, "0"):
            raise EnvironmentProblem(
                f"{name}: {address} (what {host} resolves to here) is not an address of that "
                "host; the controller must reach every node directly (no NAT / jump host)")
        m = re.search(r"\bdev (\S+)", probe.get("route", ""))
        if not m:
            raise EnvironmentProblem(f"{name} ({host}): no route to {peer}: "
                                     f"{probe.get('route') or 'ip route get said nothing'}")
        iface = m.group(1)
        new_entry = self._entry(name, host, port, address, iface=iface)
        registry.add(self.prefix, "remote_hosts", new_entry)
        registry.discard(self.prefix, "remote_hosts", entry)
        return Node(name=name, address=address, remote=remote, workdir=workdir, iface=iface,
                    meta={"host": host, "port": port, "prefix": self.prefix,
                          "backend": "ssh"})

    def _entry(self, name: str, host: str, port: int, address: str, iface: str | None) -> dict:
        # Everything cleanup needs to come back; never the password.
        return {"node": name, "host": host, "port": port, "address": address,
                "user": self.user, "key": os.path.abspath(os.path.expanduser(self.key))
                if self.key else None, "insecure": self.insecure,
                "known_hosts": list(self.known_hosts) if self.known_hosts else None,
                "dir": self.run_dir, "iface": iface}


def _parse_probe(out: str) -> dict[str, Any]:
    res: dict[str, Any] = {"missing": []}
    for line in out.splitlines():
        if line.startswith("missing:"):
            res["missing"].append(line[8:])
        elif line.startswith("local:"):
            res["local"] = line[6:].strip()
        elif line.startswith("route:"):
            res["route"] = line[6:].strip()
    return res


def _controller_address(remote: SSHRemote) -> str:
    """The controller's address as the host sees it (the peer of a one-node cluster)."""
    t = remote._transport()  # noqa: SLF001 (same package family; the socket is the truth)
    sock = t.sock
    try:
        return sock.getsockname()[0] if isinstance(sock, socket.socket) else "127.0.0.1"
    except OSError:
        return "127.0.0.1"



# -- the registered part (harness/cluster/__init__.py) -----------------------------------

def _make(test, prefix: str, workdir_root: str, needs) -> SSHCluster:
    hosts = list(test.ssh_nodes) + (read_nodes_file(test.nodes_file) if test.nodes_file else [])
    return SSHCluster(prefix=prefix, hosts=hosts, user=test.ssh_user, key=test.ssh_key,
                      password=test.ssh_password, insecure=test.ssh_insecure,
                      workdir_root=workdir_root, db=needs,
                      known_hosts=[test.ssh_known_hosts] if test.ssh_known_hosts else None)


BACKEND = BackendSpec(name="ssh", summary="existing hosts over SSH (sudo when not root)",
                      make=_make, flags=("ssh_nodes", "nodes_file", "ssh_user", "ssh_key",
                                         "ssh_password", "ssh_known_hosts", "ssh_insecure"))
