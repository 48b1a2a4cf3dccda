"""DockerRemote against real containers: exec, spawn, upload, download."""

from __future__ import annotations

import os
import time

import pytest

from splitbrain.harness.control.base import RemoteError

pytestmark = [pytest.mark.docker, pytest.mark.root]


@pytest.fixture(scope="module")
def cluster(docker_client, node_image, tmp_path_factory):
    from splitbrain.harness.cluster.docker import DockerCluster

    c = DockerCluster(nodes=2, client=docker_client,
                      workdir_root=str(tmp_path_factory.mktemp("wd")))
    nodes = c.up()
    yield c, nodes
    c.down()


def test_exec_argv_is_not_a_shell_string(cluster):
    _, nodes = cluster
    r = nodes[0].remote
    res = r.exec(["echo", "$(touch /tmp/sb-pwned)", "a;b", "'q'"])
    assert res.stdout == "$(touch /tmp/sb-pwned) a;b 'q'\n"
    assert r.exec(["test", "-e", "/tmp/sb-pwned"], check=False).exit_code == 1


def test_exec_demuxes_streams_and_reports_exit_codes(cluster):
    _, nodes = cluster
    r = nodes[0].remote
    res = r.exec(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (res.exit_code, res.stdout, res.stderr) == (3, "out\n", "err\n")
    with pytest.raises(RemoteError) as ei:
        r.exec(["sh", "-c", "echo boom >&2; exit 4"])
    assert ei.value.exit_code == 4 and "boom" in ei.value.stderr
    big = r.exec(["head", "-c", "300000", "/dev/zero"]).stdout
    assert len(big) == 300000


def test_exec_stdin_env_and_timeout(cluster):
    _, nodes = cluster
    r = nodes[0].remote
    data = os.urandom(100_000).hex().encode()
    assert r.exec(["cat"], stdin=data).stdout.encode() == data
    assert r.exec(["sh", "-c", 'echo "$SB_X"'], env={"SB_X": "a b$c"}).stdout == "a b$c\n"
    t0 = time.monotonic()
    with pytest.raises(RemoteError, match="timed out"):
        r.exec(["sh", "-c", "sleep 30 & sleep 31"], timeout=1)
    assert time.monotonic() - t0 < 10
    ps = r.exec(["ps", "-eo", "args"]).stdout
    assert "sleep 30" not in ps and "sleep 31" not in ps, ps  # the whole group was killed


def test_spawn_returns_the_daemons_pid_in_the_container(cluster):
    _, nodes = cluster
    r = nodes[0].remote
    log = f"{nodes[0].workdir}/spawn/sleeper.log"
    d = r.spawn(["sh", "-c", 'echo started "$0"; exec sleep 300', "x y"], log_path=log)
    cmd = r.exec(["cat", f"/proc/{d.pid}/cmdline"]).stdout.split("\0")
    assert cmd[:2] == ["sleep", "300"], cmd
    assert r.exec(["cat", log]).stdout == "started x y\n"
    r.exec(["kill", "-STOP", str(d.pid)])
    assert r.exec(["cat", f"/proc/{d.pid}/stat"]).stdout.rsplit(")", 1)[1].split()[0] == "T"
    r.exec(["kill", "-KILL", str(d.pid)])
    deadline = time.monotonic() + 5
    while r.exec(["test", "-e", f"/proc/{d.pid}"], check=False).exit_code == 0:
        assert time.monotonic() < deadline, "docker-init must reap the killed daemon"
        time.sleep(0.05)


def test_spawn_of_a_failing_daemon_raises_with_its_log(cluster):
    _, nodes = cluster
    with pytest.raises(RemoteError, match="No such file"):
        nodes[0].remote.spawn(["redis-server", "/nonexistent/redis.conf"],
                              log_path=f"{nodes[0].workdir}/bad.log")


def test_upload_and_download_roundtrip(cluster, tmp_path):
    _, nodes = cluster
    r = nodes[1].remote
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(70_000))
    os.chmod(src, 0o640)
    target = f"{nodes[1].workdir}/deep/er/blob.bin"
    r.upload(str(src), target)
    assert r.exec(["stat", "-c", "%a %s", target]).stdout.split() == ["640", "70000"]
    dst = tmp_path / "back" / "blob.bin"
    r.download(target, str(dst))
    assert dst.read_bytes() == src.read_bytes()
    with pytest.raises(RemoteError):
        r.download(f"{nodes[1].workdir}/missing", str(tmp_path / "x"))
    with pytest.raises(RemoteError):
        r.download(nodes[1].workdir, str(tmp_path / "y"))
