"""The docker cluster backend: one container per node on an `internal` Docker network.

    with DockerCluster("sb1a2b3c", nodes=3) as nodes:     # image: built offline if missing
        nodes[0].name, nodes[0].address                    # "n1", "10.78.0.2"
        nodes[0].remote.exec(["ip", "addr"])               # docker exec, argv list
    # leaving the block calls down(): node dirs are fetched, containers + network removed

Topology for prefix P (names and labels carry P, so cleanup finds everything):
* network `P-net`, bridge driver, `internal=True` (the engine gives it no route out and
  no NAT), IPv4 only, subnet S (a free private /24 by default), gateway S.1 — on a local
  engine that is the controller's own address on the network's bridge;
* per node i: container `P-n<i>`, hostname `n<i>`, address S.(1+i), no default route
  (removed at start: the engine's internal network still installs one), label
  `splitbrain.prefix=P`, `cap_add=NET_ADMIN` (iptables and tc inside), IPv6 off, the
  engine's init (docker-init) as pid 1 reaping daemons, and a shell idling as the
  command; the node's workdir is `/srv/splitbrain/P/n<i>` *inside* the container; the
  datastore's `NodeNeeds.host_dirs` (Kafka: its cached jars and this machine's JVM)
  bind-mounted read-only at their own paths, listed in `node.meta["host_dirs"]`.

Where the controller must be: the DB clients connect from the controller to the node
addresses, so the controller must route to the network's bridge. That holds for a local
engine on Linux (unix:// socket, or tcp:// to the same host). For a remote engine
(ssh://user@host, tcp://other-host) or Docker Desktop (a VM), the client, image checks and
container management work, but the addresses are not reachable from here: `up()` checks
the route and raises EnvironmentProblem saying so — run splitbrain on the engine's host.

`down()` copies each node's workdir (DB logs, configs) to `<workdir_root>/<P>/<node>/` on
the controller with `get_archive`, then removes containers (force, with anonymous
volumes) and the network, and forgets the run's registry record
(harness/cluster/cleanup.py, whose docker hook is harness/cluster/docker_cleanup.py).
It is idempotent; `up()` failing half way removes what it made before raising.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import logging
import os
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from splitbrain.harness import registry
from splitbrain.harness.cluster.base import BackendSpec, Node, NodeNeeds, needs_of
from splitbrain.harness.cluster.docker_cleanup import (LABEL, container_name, network_name,
                                            remove_run_resources)
from splitbrain.harness.control.docker import DockerRemote, docker_client
from splitbrain.harness.errors import EnvironmentProblem, InputError

log = logging.getLogger("splitbrain.docker")

MAX_NODES = 9
SUBNET_BASE = "10.78.0.0/16"
NODE_ROOT = "/srv/splitbrain"
DEFAULT_WORKDIR_ROOT = "/var/tmp/splitbrain"
# The command every node container idles in. Exits on TERM; never needs a registry.
IDLE = ["sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]
# Cap on the bytes fetched per node at down(): logs, not data sets.
MAX_FETCH_BYTES = 256 * 1024 * 1024


class DockerCluster:
    """Provisions `nodes` containers for run `prefix` (Cluster protocol).

    image None: splitbrain's node image (`harness.cluster.docker_image`, built offline on
    first use; with Java when db == "cassandra"); otherwise that image, checked for the
    tools the harness needs (EnvironmentProblem listing what is missing).
    docker_host None: $DOCKER_HOST or the local engine. `client` may be given (tests).
    """

    def __init__(self, prefix: str | None = None, nodes: int = 3, subnet: str | None = None,
                 workdir_root: str = DEFAULT_WORKDIR_ROOT, image: str | None = None,
                 docker_host: str | None = None, db: "str | NodeNeeds | None" = "redis",
                 client: Any = None):
        self.prefix = registry.validate_prefix(prefix or registry.new_run_prefix())
        if not isinstance(nodes, int) or not 1 <= nodes <= MAX_NODES:
            raise InputError(f"--nodes must be between 1 and {MAX_NODES}, not {nodes!r}")
        self.node_count = nodes
        if subnet:
            from splitbrain.harness.cluster.netns import parse_subnet

            self.subnet: str | None = str(parse_subnet(subnet, nodes))
        else:
            self.subnet = None
        self.workdir_root = os.path.abspath(workdir_root)
        self.image = image
        self.docker_host = docker_host
        self.db = db
        self.client = client
        self.network = network_name(self.prefix)
        self.nodes: list[Node] = []
        self.host_dirs: list[str] = []
        self.timings: dict[str, float] = {}

    # -- Cluster protocol ----------------------------------------------------------------
    def up(self) -> list[Node]:
        t0 = time.monotonic()
        if self.client is None:
            self.client = docker_client(self.docker_host)
        image = self._resolve_image()
        self.timings["image_s"] = round(time.monotonic() - t0, 3)
        self.host_dirs = self._host_dirs()
        claimed = False
        try:
            self._claim()
            claimed = True
            net = self._make_network()
            t1 = time.monotonic()
            with ThreadPoolExecutor(max_workers=self.node_count) as ex:
                self.nodes = list(ex.map(lambda i: self._make_node(i, image, net),
                                         range(1, self.node_count + 1)))
            self.timings["containers_s"] = round(time.monotonic() - t1, 3)
            self._check_reachable()
        except BaseException:
            if claimed:
                with contextlib.suppress(Exception):
                    self.down(fetch=False)
            raise
        self.timings["up_s"] = round(time.monotonic() - t0, 3)
        log.info("docker cluster %s up in %.2fs (image %s, subnet %s)", self.prefix,
                 self.timings["up_s"], image, self.subnet)
        return self.nodes

    def down(self, fetch: bool = True):
        """Fetch node dirs (unless fetch=False), remove containers and network, forget the
        record. Idempotent. Returns harness.cluster.cleanup's CleanupReport."""
        from splitbrain.harness.cluster.cleanup import cleanup

        nodes, self.nodes = self.nodes, []
        if fetch and nodes:
            with ThreadPoolExecutor(max_workers=len(nodes)) as ex:
                list(ex.map(self._fetch_workdir, nodes))
        pre: list[str] = []
        if self.client is not None:
            try:  # with our own client first: it knows the engine even without a record
                pre = remove_run_resources(self.client, self.prefix)
            except Exception as e:
                log.warning("docker cleanup of %s: %s", self.prefix, e)
        rep = cleanup(self.prefix)
        rep.removed[:0] = pre
        return rep

    def __enter__(self) -> list[Node]:
        return self.up()

    def __exit__(self, *exc: Any) -> None:
        self.down()

    # -- steps ---------------------------------------------------------------------------
    def _resolve_image(self) -> str:
        from splitbrain.harness.cluster import docker_image

        needs = needs_of(self.db or "redis").in_image()  # host_dirs bring the rest
        if self.image:
            docker_image.require_tools(self.client, self.image, needs)
            return self.image
        tag = docker_image.default_image(needs)
        if docker_image.image_present(self.client, tag):
            return tag
        log.info("node image %s missing: building it (debootstrap, a minute or two)", tag)
        res = docker_image.build_image(self.client, extra_packages=needs.packages,
                                       log=log.info)
        return res.tag

    def _host_dirs(self) -> list[str]:
        """The datastore's controller directories (NodeNeeds.host_dirs), each bind-mounted
        read-only at the same path in every container: the engine is local (see
        _check_reachable), so these are this machine's files."""
        fn = needs_of(self.db or "redis").host_dirs
        dirs = [os.path.realpath(d) for d in (fn() if fn else ())]
        missing = [d for d in dirs if not os.path.isdir(d)]
        if missing:  # the engine would create an empty dir in their place
            raise EnvironmentProblem(f"cannot share {', '.join(missing)} with the docker "
                                     "nodes: not a directory on this machine")
        return sorted(set(dirs))

    def _claim(self) -> None:
        rec = registry.load(self.prefix)
        if rec and rec.get("backend") == "docker" and registry.owner_alive(rec):
            raise InputError(f"run prefix {self.prefix} is already in use; "
                             f"`splitbrain cluster down {self.prefix}` or pick another")
        registry.open_run(self.prefix, "docker", docker_host=self.docker_host,
                          nodes=self.node_count, network=self.network,
                          containers=[container_name(self.prefix, i)
                                      for i in range(1, self.node_count + 1)],
                          workdir_root=self.workdir_root)

    def _make_network(self) -> Any:
        from docker.errors import APIError
        from docker.types import IPAMConfig, IPAMPool

        tried: list[str] = []
        for _ in range(20):
            subnet = self.subnet or _pick_subnet(self.client, avoid=tried)
            net = ipaddress.ip_network(subnet)
            ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet,
                                                     gateway=str(net.network_address + 1))])
            try:
                created = self.client.api.create_network(
                    self.network, driver="bridge", internal=True, ipam=ipam,
                    enable_ipv6=False, check_duplicate=True,
                    labels={LABEL: self.prefix},
                    options={"com.docker.network.bridge.enable_ip_masquerade": "false"})
            except APIError as e:
                text = str(e.explanation or e)
                if self.subnet is None and ("overlap" in text or "Pool" in text):
                    tried.append(subnet)  # a concurrent run took it: try the next one
                    continue
                raise EnvironmentProblem(f"cannot create docker network {self.network} "
                                         f"({subnet}): {text}") from None
            self.subnet = subnet
            registry.open_run(self.prefix, "docker", subnet=subnet)
            return created
        raise EnvironmentProblem(f"no free subnet for {self.network} after {tried}")

    def _make_node(self, i: int, image: str, net: Any) -> Node:
        from docker.errors import APIError

        api = self.client.api
        name, cname = f"n{i}", container_name(self.prefix, i)
        address = str(ipaddress.ip_network(self.subnet).network_address + 1 + i)
        workdir = f"{NODE_ROOT}/{self.prefix}/{name}"
        netcfg = api.create_networking_config({self.network: api.create_endpoint_config(
            ipv4_address=address, aliases=[name])})
        labels = {LABEL: self.prefix, "splitbrain.node": name}
        sysctls = {"net.ipv6.conf.all.disable_ipv6": "1",
                   "net.ipv6.conf.default.disable_ipv6": "1"}

        def create(init: bool) -> str:
            host_cfg = api.create_host_config(
                cap_add=["NET_ADMIN"], init=init or None, network_mode=self.network,
                sysctls=sysctls,
                binds={d: {"bind": d, "mode": "ro"} for d in self.host_dirs} or None)
            return api.create_container(image, command=IDLE[1:], entrypoint=IDLE[:1],
                                        name=cname, hostname=name, labels=labels,
                                        host_config=host_cfg, networking_config=netcfg,
                                        working_dir="/", detach=True)["Id"]

        try:
            try:
                cid = create(init=True)
            except APIError as e:
                if "init" not in str(e).lower():
                    raise
                cid = create(init=False)  # an engine without docker-init: sh reaps well enough
            api.start(cid)
        except APIError as e:
            raise EnvironmentProblem(f"cannot start container {cname} from {image}: "
                                     f"{e.explanation or e}") from None
        remote = DockerRemote(cname, name, self.client, run_prefix=self.prefix)
        # An internal network still hands out a default route via the gateway (the engine
        # only filters on the host): drop it, so as with netns nodes reach their subnet
        # (peers and the controller at .1) and nothing else, by construction.
        remote.exec(["sh", "-c", 'ip route del default 2>/dev/null; mkdir -p -- "$0"', workdir],
                    timeout=30)
        return Node(name=name, address=address, remote=remote, workdir=workdir, iface="eth0",
                    meta={"container": cname, "container_id": cid, "network": self.network,
                          "prefix": self.prefix, "subnet": self.subnet, "image": image,
                          "docker_host": self.docker_host,
                          "host_dirs": list(self.host_dirs)})

    def _check_reachable(self) -> None:
        """The controller must route to the nodes through the network's bridge."""
        if not self.nodes:
            return
        addr = self.nodes[0].address
        try:
            res = subprocess.run(["ip", "-j", "-4", "route", "get", addr], capture_output=True,
                                 text=True, timeout=10)
            routes = json.loads(res.stdout or "[]")
        except (OSError, ValueError, subprocess.TimeoutExpired):
            log.warning("cannot check the route to %s (no `ip`?); assuming reachable", addr)
            return
        dev = routes[0].get("dev", "") if routes else ""
        via = routes[0].get("gateway") if routes else None
        if not dev.startswith("br-") or via:
            where = self.docker_host or os.environ.get("DOCKER_HOST") or "the local engine"
            raise EnvironmentProblem(
                f"the controller cannot reach the docker nodes ({addr} routes via "
                f"{via or dev or 'nothing'}): the engine at {where} is not on this host. The "
                "docker backend needs the controller on the engine's host (a local engine, or "
                "run splitbrain on the ssh:// host itself)")

    def _fetch_workdir(self, node: Node) -> None:
        dest = os.path.join(self.workdir_root, self.prefix, node.name)
        try:
            stream, _ = self.client.api.get_archive(node.meta["container"], node.workdir)
            buf, size = io.BytesIO(), 0
            for chunk in stream:
                size += len(chunk)
                if size > MAX_FETCH_BYTES:
                    log.warning("%s: workdir larger than %d bytes; not fetched", node.name,
                                MAX_FETCH_BYTES)
                    return
                buf.write(chunk)
            buf.seek(0)
            os.makedirs(dest, exist_ok=True)
            with tarfile.open(fileobj=buf, mode="r") as tar:
                top = os.path.basename(node.workdir.rstrip("/"))
                for m in tar.getmembers():
                    # Only regular files and dirs, never outside dest (no links, no '..').
                    rel = os.path.normpath(m.name)
                    if rel == top or not rel.startswith(top + "/") or ".." in rel.split("/"):
                        continue
                    target = os.path.join(dest, rel[len(top) + 1:])
                    if m.isdir():
                        os.makedirs(target, exist_ok=True)
                    elif m.isfile():
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        with open(target, "wb") as f:
                            f.write(tar.extractfile(m).read())
        except Exception as e:  # logs are a courtesy; cleanup must go on
            log.warning("%s: fetching %s failed: %s", node.name, node.workdir, e)


def _pick_subnet(client: Any, avoid: list[str]) -> str:
    """The first /24 of SUBNET_BASE overlapping no host route/address, no existing docker
    network and nothing in `avoid`."""
    from splitbrain.harness.cluster.netns import used_networks

    used = []
    with contextlib.suppress(Exception):
        used += [n for n, _ in used_networks()]
    for n in client.api.networks():
        for cfg in ((n.get("IPAM") or {}).get("Config") or []):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
    used += [ipaddress.ip_network(a) for a in avoid]
    for cand in ipaddress.ip_network(SUBNET_BASE).subnets(new_prefix=24):
        if not any(cand.overlaps(u) for u in used if u.version == 4):
            return str(cand)
    raise EnvironmentProblem(f"no free /24 left in {SUBNET_BASE}; run `splitbrain cleanup`")


# -- the registered part (harness/cluster/__init__.py) -----------------------------------

def _make(test, prefix: str, workdir_root: str, needs) -> DockerCluster:
    return DockerCluster(prefix=prefix, nodes=test.nodes, subnet=test.subnet,
                         workdir_root=workdir_root, image=test.image,
                         docker_host=test.docker_host, db=needs)


BACKEND = BackendSpec(name="docker", summary="one container per node (offline-built image)",
                      make=_make, flags=("image", "docker_host"))
