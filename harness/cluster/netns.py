"""The netns cluster backend: one network namespace per node on a private bridge.

    with NetnsCluster("sb1a2b3c", nodes=5, subnet="10.77.0.0/24") as nodes:
        nodes[0].name, nodes[0].address          # "n1", "10.77.0.2"
        nodes[0].remote.exec(["ip", "addr"])     # runs inside namespace sb1a2b3c-n1
    # leaving the block calls down(): namespaces, veths, bridge, rules, daemons are gone

Topology for prefix P and subnet S (all names carry P, so cleanup finds them):
* bridge `Pbr` on the controller with S's first host address (.1) — the controller's
  clients reach every node directly through it;
* per node i (1..9): namespace `P-n<i>`, a veth pair `Pv<i>` (controller side, enslaved to
  the bridge) ↔ `eth0` (inside), address S + 1 + i (.2, .3, …), loopback up, IPv6 off
  (so partitions, which are IPv4 iptables rules, cannot be bypassed over link-local v6);
* NO default route in the namespaces: nodes reach each other and nothing else — new
  connections from the node network to the controller itself (its bridge address, any
  service on 0.0.0.0) are dropped by an `iptables -I INPUT -i Pbr -m conntrack --ctstate
  NEW -j DROP -m comment --comment P` rule; replies to the controller's own connections
  pass;
* where bridged traffic passes the controller's FORWARD chain (br_netfilter on, as on any
  host running Docker, whose FORWARD policy is DROP) an
  `iptables -I FORWARD -i Pbr -o Pbr -j ACCEPT -m comment --comment P` is added.

Every resource is recorded in the run registry *before* it is created; `down()` is
`harness.cluster.cleanup.cleanup(prefix)`, which also stops daemons still running in
the namespaces. `up()` failing half-way removes what it made before raising.
Requires root, `ip` and `iptables` (EnvironmentProblem otherwise).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import subprocess
from typing import Any

from splitbrain.harness import registry
from splitbrain.harness.cluster.base import BackendSpec, Node
from splitbrain.harness.cluster.cleanup import CleanupReport, cleanup
from splitbrain.harness.registry import new_run_prefix  # noqa: F401  (re-exported)
from splitbrain.harness.control.base import RemoteError
from splitbrain.harness.control.netns import NetnsRemote
from splitbrain.harness.errors import EnvironmentProblem, InputError

MAX_NODES = 9
DEFAULT_SUBNET = "10.77.0.0/24"
DEFAULT_WORKDIR_ROOT = "/var/tmp/splitbrain"
_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def require_netns_tools() -> None:
    """Raise EnvironmentProblem unless we are root with `ip` and `iptables` available."""
    if os.geteuid() != 0:
        raise EnvironmentProblem("the netns cluster needs root (network namespaces, bridges "
                                 "and iptables); run as root or use another backend")
    for tool in ("ip", "iptables", "iptables-restore"):
        if shutil.which(tool) is None:
            raise EnvironmentProblem(f"the netns cluster needs `{tool}` on PATH "
                                     "(Debian: apt-get install iproute2 iptables)")


def parse_subnet(subnet: str, nodes: int) -> ipaddress.IPv4Network:
    """Validate a node subnet: IPv4, inside 10/8, 172.16/12 or 192.168/16, big enough."""
    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError as e:
        raise InputError(f"--subnet {subnet!r} is not a network like 10.77.0.0/24: {e}") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise InputError(f"--subnet {subnet!r} must be IPv4")
    if not any(net.subnet_of(p) for p in _PRIVATE):
        raise InputError(f"--subnet {subnet!r} must lie in a private range "
                         "(10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)")
    if net.num_addresses < nodes + 3:  # network, bridge, nodes, broadcast
        raise InputError(f"--subnet {subnet!r} is too small for {nodes} nodes plus the bridge")
    return net


def used_networks() -> list[tuple[ipaddress.IPv4Network, str]]:
    """IPv4 networks routed on the controller (any table), with the device using each."""
    out = []
    for argv in (["ip", "-j", "-4", "route", "show", "table", "all"], ["ip", "-j", "-4", "addr"]):
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        try:
            items = json.loads(res.stdout or "[]")
        except ValueError:
            continue
        for it in items:
            if "dst" in it:
                if it["dst"] in ("default", "0.0.0.0/0") or it.get("type") in ("broadcast",):
                    continue
                with contextlib.suppress(ValueError):
                    out.append((ipaddress.ip_network(it["dst"], strict=False), it.get("dev", "?")))
            for a in it.get("addr_info", []):
                with contextlib.suppress(ValueError, KeyError):
                    out.append((ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}",
                                                     strict=False), it.get("ifname", "?")))
    return out


def pick_free_subnet(base: str = "10.77.0.0/16", new_prefix: int = 24) -> str:
    """The first /24 (by default) of `base` not overlapping anything routed here."""
    used = [n for n, _ in used_networks()]
    for cand in ipaddress.ip_network(base).subnets(new_prefix=new_prefix):
        if not any(cand.overlaps(u) for u in used):
            return str(cand)
    raise EnvironmentProblem(f"no free /{new_prefix} left in {base}; run `splitbrain cleanup`")


@contextlib.contextmanager
def _subnet_lock():
    # Serialises check-then-claim of subnets between concurrent `up()`s on this host.
    os.makedirs(registry.runs_dir(), exist_ok=True)
    with open(os.path.join(registry.runs_dir(), "subnets.lock"), "a") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lf, fcntl.LOCK_UN)


class NetnsCluster:
    """Provisions `nodes` namespaces for run `prefix` (Cluster protocol, harness/cluster/base.py).

    `subnet=None` picks a free /24 in 10.77.0.0/16 at `up()`. Node workdirs are
    `<workdir_root>/<prefix>/<node>` (created; deleted by down()/cleanup only with
    `own_workdirs=True`, as `cluster up` does — a run's hold the DB's logs).
    """

    def __init__(self, prefix: str | None = None, nodes: int = 3,
                 subnet: str | None = DEFAULT_SUBNET, workdir_root: str = DEFAULT_WORKDIR_ROOT,
                 own_workdirs: bool = False):
        self.prefix = registry.validate_prefix(prefix or new_run_prefix())
        if not isinstance(nodes, int) or not 1 <= nodes <= MAX_NODES:
            raise InputError(f"--nodes must be between 1 and {MAX_NODES}, not {nodes!r}")
        self.node_count = nodes
        self.subnet = str(parse_subnet(subnet, nodes)) if subnet else None
        self.workdir_root = os.path.abspath(workdir_root)
        self.bridge = f"{self.prefix}br"
        self.nodes: list[Node] = []
        # `cluster up`: the node dirs are scratch space, removed by down()/cleanup. A run's
        # node dirs are in the store (logs) and are never removed.
        self.own_workdirs = own_workdirs

    # -- Cluster protocol ----------------------------------------------------------------
    def up(self) -> list[Node]:
        require_netns_tools()
        claimed = False
        try:
            with _subnet_lock():
                self._claim_subnet()
                claimed = True
                self._make_bridge()
            self._allow_bridge_forwarding()
            self._isolate_host()
            self.nodes = [self._make_node(i) for i in range(1, self.node_count + 1)]
        except BaseException:
            # Only undo what this call claimed: a refused prefix belongs to a live run.
            if claimed:
                with contextlib.suppress(Exception):
                    self.down()
            raise
        return self.nodes

    def down(self) -> CleanupReport:
        """Remove everything of this run (idempotent). Returns what was removed."""
        self.nodes = []
        return cleanup(self.prefix)

    def __enter__(self) -> list[Node]:
        return self.up()

    def __exit__(self, *exc: Any) -> None:
        self.down()

    # -- steps ---------------------------------------------------------------------------
    def _claim_subnet(self) -> None:
        rec = registry.load(self.prefix)
        if rec and any(os.path.exists(f"/run/netns/{ns}") for ns in rec.get("namespaces", [])):
            raise InputError(f"run prefix {self.prefix} is already in use; "
                             f"`splitbrain cluster down {self.prefix}` or pick another")
        if self.subnet is None:
            self.subnet = pick_free_subnet()
        net = ipaddress.ip_network(self.subnet)
        for used, dev in used_networks():
            if net.overlaps(used):
                raise InputError(f"subnet {net} overlaps {used} already used by {dev} on this "
                                 "host; pick another with --subnet")
        registry.open_run(self.prefix, "netns", subnet=str(net), nodes=self.node_count,
                          bridge=self.bridge, workdir_root=self.workdir_root)

    def _make_bridge(self) -> None:
        net = ipaddress.ip_network(self.subnet)
        registry.add(self.prefix, "bridges", self.bridge)
        _host(["ip", "link", "add", "name", self.bridge, "type", "bridge"])
        _disable_ipv6_host(self.bridge)
        _host(["ip", "addr", "add", f"{net.network_address + 1}/{net.prefixlen}",
               "dev", self.bridge])
        _host(["ip", "link", "set", self.bridge, "up"])

    def _allow_bridge_forwarding(self) -> None:
        if not bridge_traffic_filtered():
            return
        rule = ["-i", self.bridge, "-o", self.bridge, "-m", "comment",
                "--comment", self.prefix, "-j", "ACCEPT"]
        registry.add(self.prefix, "iptables",
                     {"netns": None, "table": "filter", "chain": "FORWARD", "rule": rule})
        _host(["iptables", "-w", "5", "-I", "FORWARD", *rule])

    def _isolate_host(self) -> None:
        """Nodes must not reach the controller's own services (anything listening on
        0.0.0.0 answers on the bridge address): drop every NEW connection from the node
        network to this host. The harness only ever connects host -> node, whose replies
        are ESTABLISHED and pass; node <-> node traffic is bridged and never hits INPUT.
        Recorded before it is made, carries the prefix, removed by cleanup."""
        rule = ["-i", self.bridge, "-m", "conntrack", "--ctstate", "NEW", "-m", "comment",
                "--comment", self.prefix, "-j", "DROP"]
        registry.add(self.prefix, "iptables",
                     {"netns": None, "table": "filter", "chain": "INPUT", "rule": rule})
        _host(["iptables", "-w", "5", "-I", "INPUT", "1", *rule])

    def _make_node(self, i: int) -> Node:
        net = ipaddress.ip_network(self.subnet)
        name, ns, veth = f"n{i}", f"{self.prefix}-n{i}", f"{self.prefix}v{i}"
        address = str(net.network_address + 1 + i)
        registry.add(self.prefix, "namespaces", ns)
        registry.add(self.prefix, "links", veth)
        _host(["ip", "netns", "add", ns])
        remote = NetnsRemote(ns, name, run_prefix=self.prefix)
        for key in ("all", "default"):
            remote.exec(["sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1"],
                        timeout=10, check=False)
        _host(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
        _disable_ipv6_host(veth)
        _host(["ip", "link", "set", veth, "master", self.bridge])
        _host(["ip", "link", "set", veth, "up"])
        remote.exec(["ip", "addr", "add", f"{address}/{net.prefixlen}", "dev", "eth0"],
                    timeout=10)
        remote.exec(["ip", "link", "set", "eth0", "up"], timeout=10)
        remote.exec(["ip", "link", "set", "lo", "up"], timeout=10)
        workdir = os.path.join(self.workdir_root, self.prefix, name)
        if self.own_workdirs:
            registry.add(self.prefix, "workdirs", os.path.join(self.workdir_root, self.prefix))
        os.makedirs(workdir, exist_ok=True)
        return Node(name=name, address=address, remote=remote, workdir=workdir, iface="eth0",
                    meta={"netns": ns, "veth": veth, "bridge": self.bridge,
                          "prefix": self.prefix, "subnet": self.subnet})


def bridge_traffic_filtered() -> bool:
    """Whether frames crossing a bridge traverse the controller's iptables FORWARD chain
    (br_netfilter on) or FORWARD drops by default — then the bridge needs an ACCEPT rule."""
    try:
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
            if f.read().strip() == "1":
                return True
    except OSError:
        pass
    res = subprocess.run(["iptables", "-w", "5", "-S", "FORWARD"], capture_output=True,
                         text=True, timeout=10)
    return "-P FORWARD ACCEPT" not in res.stdout


def _host(argv: list[str]) -> None:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise RemoteError(f"`{' '.join(argv)}` failed: {res.stderr.strip()}",
                          exit_code=res.returncode, stderr=res.stderr)


def _disable_ipv6_host(ifname: str) -> None:
    with contextlib.suppress(OSError):
        with open(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "w") as f:
            f.write("1")


# -- the registered part (harness/cluster/__init__.py) -----------------------------------

def _make(test, prefix: str, workdir_root: str, needs) -> NetnsCluster:
    return NetnsCluster(prefix=prefix, nodes=test.nodes, subnet=test.subnet,
                        workdir_root=workdir_root)


BACKEND = BackendSpec(name="netns", summary="network namespaces on this machine (root)",
                      make=_make, local=True)
