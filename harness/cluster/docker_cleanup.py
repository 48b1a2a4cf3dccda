"""Remove docker-backend leftovers: sb* containers and networks (harness/cluster/cleanup.py
calls `cleanup_docker` through its EXTRA_CLEANERS hook, so `splitbrain cleanup`, `cluster
down` and every docker `down()` end up here).

    cleanup_docker("sb1a2b3c", frozenset())    # that run's containers and network
    cleanup_docker(None, frozenset({"sb9f"}))   # every sb* leftover except live run sb9f

A resource is ours iff it carries the label `splitbrain.prefix=<prefix>` with a valid run
prefix, or its name is exactly one we give: `<prefix>-n<i>` (containers) or
`<prefix>-net` (networks). Nothing else is ever touched — not images (the node image is a
cache), not volumes other than the containers' anonymous ones.

Engines consulted: the default one ($DOCKER_HOST or the local socket; silently skipped
when none answers and no record needs it) plus every engine a docker run recorded in the
run registry (`meta.docker_host`), so a run made with --docker-host is cleaned there.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from splitbrain.harness import registry

LABEL = "splitbrain.prefix"
_P = r"sb[0-9a-z]{1,10}"
_PREFIX_RE = re.compile(rf"^{_P}$")
_CONTAINER_RE = re.compile(rf"^({_P})-n\d{{1,2}}$")
_NETWORK_RE = re.compile(rf"^({_P})-net$")


def container_name(prefix: str, i: int) -> str:
    return f"{prefix}-n{i}"


def network_name(prefix: str) -> str:
    return f"{prefix}-net"


def owner_prefix(name: str, labels: dict | None, kind: str) -> str | None:
    """The run prefix a container/network belongs to, or None if it is not ours."""
    lab = (labels or {}).get(LABEL)
    if lab and _PREFIX_RE.match(lab):
        return lab
    pattern = _CONTAINER_RE if kind == "container" else _NETWORK_RE
    m = pattern.match(name.lstrip("/"))
    return m.group(1) if m else None


def cleanup_docker(prefix: str | None, protected: frozenset[str] = frozenset()) -> list[str]:
    """Remove the containers (force, with their anonymous volumes), then the networks,
    of run `prefix` (None: of every sb* run not in `protected`). Returns what was
    removed, one line each. Raises if an engine a run recorded cannot be reached."""
    if prefix is not None:
        registry.validate_prefix(prefix)
    engines = _engines(prefix)
    removed: list[str] = []
    for host, required in engines.items():
        client = _client(host, required)
        if client is None:
            continue
        try:
            removed += remove_run_resources(client, prefix, protected)
        finally:
            client.close()
    return removed


def remove_run_resources(client: Any, prefix: str | None,
                         protected: frozenset[str] = frozenset()) -> list[str]:
    """The work of `cleanup_docker` on one engine (also used by DockerCluster.down)."""
    from docker.errors import APIError, NotFound

    def mine(p: str | None) -> bool:
        return p is not None and p not in protected and (prefix is None or p == prefix)

    where = "" if prefix is None else prefix
    containers = []
    for c in client.api.containers(all=True, filters={"name": where} if where else None):
        name = (c.get("Names") or ["/?"])[0].lstrip("/")
        if mine(owner_prefix(name, c.get("Labels"), "container")):
            containers.append((c["Id"], name))
    errors: list[str] = []

    def rm_container(item) -> str | None:
        cid, name = item
        try:
            client.api.remove_container(cid, force=True, v=True)
        except NotFound:
            return None
        except APIError as e:
            if "already in progress" in str(e):
                return None
            errors.append(f"container {name}: {e.explanation or e}")
            return None
        return f"docker container {name}"

    removed: list[str] = []
    if containers:
        with ThreadPoolExecutor(max_workers=min(8, len(containers))) as ex:
            removed += [r for r in ex.map(rm_container, containers) if r]
    for n in client.api.networks(names=[network_name(prefix)] if prefix else None):
        if not mine(owner_prefix(n.get("Name", ""), n.get("Labels"), "network")):
            continue
        try:
            client.api.remove_network(n["Id"])
            removed.append(f"docker network {n['Name']}")
        except NotFound:
            pass
        except APIError as e:
            errors.append(f"network {n.get('Name')}: {e.explanation or e}")
    # A label-only network (renamed by hand) is found by label too.
    if prefix:
        for n in client.api.networks(filters={"label": f"{LABEL}={prefix}"}):
            try:
                client.api.remove_network(n["Id"])
                removed.append(f"docker network {n['Name']}")
            except NotFound:
                pass
            except APIError as e:
                errors.append(f"network {n.get('Name')}: {e.explanation or e}")
    if errors:
        raise RuntimeError("; ".join(errors))
    return removed


def _engines(prefix: str | None) -> dict[str | None, bool]:
    """{docker_host or None (default engine): must it answer?}"""
    engines: dict[str | None, bool] = {None: False}
    for rec in registry.runs():
        if rec.get("backend") != "docker":
            continue
        if prefix is not None and rec.get("prefix") != prefix:
            continue
        host = (rec.get("meta") or {}).get("docker_host")
        engines[host] = True
    return engines


def _client(host: str | None, required: bool) -> Any:
    from splitbrain.harness.control.docker import docker_client
    from splitbrain.harness.errors import EnvironmentProblem

    try:
        return docker_client(host, timeout=60)
    except EnvironmentProblem:
        if required:
            raise
        return None  # no engine here and no docker run recorded: nothing to clean
