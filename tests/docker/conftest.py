"""Fixtures for the docker backend tests: a real engine and the real node image.

The engine: `scripts/setup.sh --test` installs docker.io and starts dockerd. If this
machine has no Docker at all (no `dockerd`, no DOCKER_HOST) the tests skip with that
reason; if Docker is installed but the engine does not answer, they FAIL (CI must not
pass silently with a broken engine).

The image is built once per session through the same function `splitbrain image build`
calls (debootstrap + docker import, ~1.5-2 min cold; cached by content afterwards).
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import is_root


def _docker_expected() -> bool:
    return bool(os.environ.get("DOCKER_HOST")) or shutil.which("dockerd") is not None


@pytest.fixture(scope="session")
def docker_client():
    if not is_root():
        pytest.skip("docker tests run as root (debootstrap, the controller's routes)")
    from splitbrain.harness.control.docker import docker_client as make
    from splitbrain.harness.errors import EnvironmentProblem

    try:
        client = make(None)
    except EnvironmentProblem as e:
        if _docker_expected():
            pytest.fail(f"Docker is installed but the engine does not answer: {e}")
        pytest.skip(f"no Docker engine on this machine: {e}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def node_image(docker_client):
    """The default node image tag (built or reused), with how long that took."""
    from splitbrain.harness.cluster.docker_image import build_image

    res = build_image(docker_client, log=lambda s: print(f"[image] {s}"))
    print(f"[image] {res.tag}: {res.method} in {res.seconds:.1f}s")
    return res


def sb_docker_resources(client) -> dict[str, set[str]]:
    """Every container and network whose name starts with sb (ours or not)."""
    cs = {c["Names"][0].lstrip("/") for c in client.api.containers(all=True)
          if c["Names"][0].lstrip("/").startswith("sb")}
    ns = {n["Name"] for n in client.api.networks() if n["Name"].startswith("sb")}
    return {"containers": cs, "networks": ns}


def resource_counts(client) -> tuple[int, int]:
    return len(client.api.containers(all=True)), len(client.api.networks())
