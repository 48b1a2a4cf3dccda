"""The disk nemesis for real: sbfs mounted over data directories, unsynced data dropped on
a simulated crash, real redis-server AOFs, and nothing left mounted or running."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from splitbrain.nemesis.disk import CONTROL, DiskNemesis, mounted
from tests.conftest import have
from tests.nemesis.conftest import ask, redis_db

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not (have("gcc") and have("pkg-config") and
                                      os.path.exists("/dev/fuse")),
                                 reason="needs gcc, libfuse3-dev and /dev/fuse")]


class FileDB:
    """A datastore stand-in that only has a data directory (kill/start are no-ops)."""

    def __init__(self):
        self.kills, self.starts, self.events = [], [], []
        self.appendfsync = "n/a"

    def data_dir(self, node):
        return os.path.join(node.workdir, "data")

    def kill(self, node):
        self.kills.append(node.name)
        self.events.append(f"kill {node.name}")

    def start(self, node):
        self.starts.append(node.name)
        self.events.append(f"start {node.name}")


def sbfs_pids(prefix):
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if any(f"{prefix}-disk-".encode() in c for c in cmd):
                out.append(int(pid))
    return out


@pytest.fixture
def disk(netns_nodes):
    prefix, nodes = netns_nodes
    db = FileDB()
    d = DiskNemesis(nodes, db, prefix, random.Random(1))
    try:
        d.setup()
        yield prefix, nodes, db, d
    finally:
        d.teardown()
        assert not any(mounted(db.data_dir(n)) for n in nodes)
        assert sbfs_pids(prefix) == []


def write(path, data: bytes, sync: bool):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def test_lose_unsynced_keeps_exactly_what_was_fsynced(disk):
    _, (n1, n2, _), db, d = disk
    f1 = os.path.join(db.data_dir(n1), "log")
    write(f1, b"durable-1\n", sync=True)
    write(f1, b"volatile-1\n", sync=False)
    os.makedirs(os.path.join(db.data_dir(n1), "sub"))
    write(os.path.join(db.data_dir(n1), "sub", "new"), b"never synced\n", sync=False)
    f2 = os.path.join(db.data_dir(n2), "log")
    write(f2, b"other node, unsynced\n", sync=False)
    assert open(f1, "rb").read() == b"durable-1\nvolatile-1\n"  # reads see the cache
    done = d.invoke({"f": "disk-lose-unsynced", "value": {"targets": ["n1"]}})
    assert "error" not in done, done
    assert done["value"]["nodes"]["n1"]["lost_bytes"] == len(b"volatile-1\n") + 13
    assert db.kills == ["n1"] and db.starts == ["n1"]
    assert open(f1, "rb").read() == b"durable-1\n"
    # metadata is durable at once: the file exists, empty
    assert open(os.path.join(db.data_dir(n1), "sub", "new"), "rb").read() == b""
    assert os.path.getsize(f1) == len(b"durable-1\n")
    assert open(f2, "rb").read() == b"other node, unsynced\n"  # n2 untouched


def test_lose_on_several_nodes_is_one_correlated_crash(disk):
    _, nodes, db, d = disk
    for n in nodes:
        write(os.path.join(db.data_dir(n), "log"), b"v" * 10, sync=False)
    done = d.invoke({"f": "disk-lose-unsynced", "value": {"targets": "all"}})
    assert db.events[:3] == [f"kill {n.name}" for n in nodes]   # all down before any is up
    assert sorted(db.events[3:]) == [f"start {n.name}" for n in nodes]
    assert {k: v["lost_bytes"] for k, v in done["value"]["nodes"].items()} == \
        {n.name: 10 for n in nodes}


def test_torn_loss_keeps_a_prefix_cut_inside_a_write(disk):
    _, (n1, _, _), db, d = disk
    f1 = os.path.join(db.data_dir(n1), "log")
    write(f1, b"S" * 100, sync=True)
    for i in range(10):
        write(f1, bytes([65 + i]) * 100, sync=False)
    done = d.invoke({"f": "disk-lose-unsynced", "value": {"targets": ["n1"], "torn": True,
                                                          "seed": 3}})
    kept = done["value"]["nodes"]["n1"]["torn_kept_bytes"]
    data = open(f1, "rb").read()
    assert 0 < kept < 1000 and len(data) == 100 + kept
    expect = b"S" * 100 + b"".join(bytes([65 + i]) * 100 for i in range(10))
    assert data == expect[:100 + kept]


def test_slow_disk_delays_fsync_until_healed(disk):
    _, (n1, _, _), db, d = disk
    f1 = os.path.join(db.data_dir(n1), "log")
    done = d.invoke({"f": "disk-slow", "value": {"targets": ["n1"], "fsync_ms": 1500}})
    assert "error" not in done and d.active() == ["disk-slow n1"]
    t = time.monotonic()
    write(f1, b"x", sync=True)
    assert time.monotonic() - t >= 1.49
    d.invoke({"f": "disk-heal"})
    t = time.monotonic()
    write(f1, b"x", sync=True)
    assert time.monotonic() - t < 1.0 and d.active() == []  # a real fsync, on a busy disk


def test_cleanup_unmounts_after_sbfs_was_killed(netns_nodes):
    from splitbrain.harness import registry
    from splitbrain.harness.cluster.cleanup import cleanup

    prefix, nodes = netns_nodes
    db = FileDB()
    d = DiskNemesis(nodes, db, prefix, random.Random(1))
    d.setup()
    assert [m["fsname"] for m in registry.load(prefix)["mounts"]] == \
        [f"{prefix}-disk-{n.name}" for n in nodes]
    pids = sbfs_pids(prefix)
    assert len(pids) == 3
    os.kill(pids[0], signal.SIGKILL)  # a dead FUSE daemon leaves a dead mount behind
    time.sleep(0.3)
    rep = cleanup(prefix)
    assert rep.ok, rep.lines()
    assert not any(mounted(db.data_dir(n)) for n in nodes), rep.lines()
    assert sbfs_pids(prefix) == []


# -- real Redis --------------------------------------------------------------------------

def redis_with_disk(netns_nodes, tmp_path, appendfsync):
    prefix, nodes = netns_nodes
    db = redis_db(nodes, prefix, tmp_path)
    db.appendfsync = appendfsync
    disk = DiskNemesis(nodes, db, prefix, random.Random(2))
    return prefix, nodes, db, disk


def hammer(n1, acked: list, stop) -> None:
    """SADD increasing elements on the primary until `stop` is set or the connection
    breaks (the kill); every element whose reply came back is appended to `acked`."""
    import redis

    r = redis.Redis(host=n1.address, port=7411, socket_timeout=2)
    try:
        i = 0
        while not stop.is_set():
            r.sadd("s", i)
            acked.append(i)
            i += 1
    except Exception:
        pass  # the crash
    finally:
        r.close()


@pytest.mark.redis
@pytest.mark.parametrize("appendfsync,loses,torn", [("everysec", True, False),
                                                    ("everysec", True, True),
                                                    ("always", False, False)])
def test_redis_aof_on_sbfs_loses_acked_writes_only_without_fsync(netns_nodes, tmp_path,
                                                                 appendfsync, loses, torn):
    """Torn: the AOF ends inside a command; Redis (aof-load-truncated) must still load."""
    prefix, nodes, db, disk = redis_with_disk(netns_nodes, tmp_path, appendfsync)
    n1 = nodes[0]
    try:
        disk.setup()
        for n in nodes:
            db.setup(n)
            db.start(n)
        db.wait_ready(30)
        import threading

        acked, stop = [], threading.Event()
        writer = threading.Thread(target=hammer, args=(n1, acked, stop))
        writer.start()
        time.sleep(1.5)  # the crash comes while acknowledged writes keep flowing
        try:
            done = disk.invoke({"f": "disk-lose-unsynced", "value": {"targets": ["n1"],
                                                                     "torn": torn}})
        finally:
            stop.set()
            writer.join(timeout=30)
        assert len(acked) > 100, len(acked)
        assert "error" not in done, done
        deadline = time.monotonic() + 30
        while True:
            try:
                members = ask(n1, "SMEMBERS", "s", timeout=2)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        present = {int(m) for m in members}
        lost = set(acked) - present
        if loses:
            assert lost and done["value"]["nodes"]["n1"]["lost_bytes"] > 0, done
        else:
            assert not lost, sorted(lost)[:10]
    finally:
        disk.teardown()
        for n in nodes:
            db.teardown(n)
    assert not any(mounted(db.data_dir(n)) for n in nodes)
