"""The node image: content-addressed cache, re-import from the cached rootfs, tool checks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from splitbrain.harness.errors import EnvironmentProblem

pytestmark = [pytest.mark.docker, pytest.mark.root]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_package_list_and_tag_are_content_addressed():
    from splitbrain.harness.cluster import docker_image as di

    base, java = di.packages(), di.packages(with_java=True)
    assert "redis-server" in base and "openjdk-17-jre-headless" in java
    assert di.image_tag(base) != di.image_tag(java)
    assert di.image_tag(base) == di.image_tag(reversed(base)) == di.default_image("redis")
    assert di.default_image("cassandra") == di.image_tag(java)
    assert "openjdk-17-jre-headless" in di.dockerfile_text(java)
    with pytest.raises(Exception):
        di.packages(extra=["redis; rm -rf /"])


def test_cached_image_is_reused_and_has_the_tools(docker_client, node_image):
    from splitbrain.harness.cluster import docker_image as di

    print(f"\n[figure] image build in this session: {node_image.method} {node_image.seconds:.1f}s")
    again = di.build_image(docker_client)
    assert (again.tag, again.method) == (node_image.tag, "cached")
    assert again.seconds < 5
    assert di.missing_tools(docker_client, node_image.tag,
                            di.tools_for("redis") + ("sshd", "python3")) == []
    out = docker_client.containers.run(node_image.tag, ["sh", "-c",
                                       "ls /usr/lib/x86_64-linux-gnu/faketime/; command -v sshd"],
                                       remove=True, network_mode="none").decode()
    assert "libfaketime.so.1" in out and "sshd" in out


def test_lost_image_is_reimported_from_the_cached_rootfs(docker_client, node_image):
    from docker.errors import APIError

    from splitbrain.harness.cluster import docker_image as di

    try:
        docker_client.images.remove(node_image.tag)
    except APIError as e:  # in use by a container someone else runs: cannot test here
        pytest.skip(f"image in use: {e}")
    res = di.build_image(docker_client)
    print(f"\n[figure] image re-import from cached rootfs tarball: {res.seconds:.1f}s")
    assert (res.tag, res.method) == (node_image.tag, "tarball")
    assert di.image_present(docker_client, node_image.tag)


def test_an_image_lacking_tools_is_refused_with_the_list(docker_client, node_image):
    from splitbrain.harness.cluster import docker_image as di

    c = docker_client.containers.run(node_image.tag, ["sh", "-c",
                                     "rm -f /usr/sbin/tc /usr/bin/redis-server /usr/bin/timeout"],
                                     detach=True, network_mode="none",
                                     labels={"splitbrain.prefix": "sbimgtest"})
    c.wait(timeout=30)
    tag = "sbimgtest-lacking:1"
    try:
        c.commit(repository="sbimgtest-lacking", tag="1")
        with pytest.raises(EnvironmentProblem) as ei:
            di.require_tools(docker_client, tag, "redis")
        msg = str(ei.value)
        for tool in ("tc", "redis-server", "timeout"):
            assert tool in msg.split("nodes: ")[1].split(".")[0], msg
        assert "redis-cli" not in msg.split("nodes: ")[1].split(".")[0]
        env = dict(os.environ, PYTHONPATH=ROOT)
        r = subprocess.run([sys.executable, "-m", "splitbrain", "image", "check", tag], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 254 and "Traceback" not in r.stderr, r.stderr
        assert "tc" in r.stderr
        from splitbrain.harness.cluster.docker import DockerCluster

        with pytest.raises(EnvironmentProblem, match="lacks"):
            DockerCluster(nodes=1, image=tag, client=docker_client).up()
        with pytest.raises(EnvironmentProblem, match="not on the Docker engine"):
            di.require_tools(docker_client, "sbimgtest-absent:0", "redis")
    finally:
        c.remove(force=True)
        try:
            docker_client.images.remove(tag)
        except Exception:
            pass
