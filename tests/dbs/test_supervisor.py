"""The one per-node daemon supervisor (harness/dbs/daemons.py), with fake process
primitives: what it records, signals and forgets, for every datastore alike."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from splitbrain.harness.control.base import Daemon
from splitbrain.harness.dbs.daemons import Supervisor


@dataclass
class N:
    name: str


class Fake:
    def __init__(self, sup: Supervisor, unkillable=()):
        self.pids = itertools.count(10)
        self.alive: set[int] = set()
        self.unkillable = set(unkillable)
        self.signals: list[tuple[str, int, str]] = []
        self.registered: set[int] = set()
        sup._spawn = self.spawn
        sup._alive = lambda node, d: d.pid in self.alive
        sup._signal = self.signal
        sup._wait_gone = lambda node, d, timeout: d.pid not in self.alive
        sup._unregister = lambda d: self.registered.discard(d.pid)

    def spawn(self, node, argv, log_path, env, what):
        pid = next(self.pids)
        self.alive.add(pid)
        self.registered.add(pid)
        return Daemon(pid=pid, argv=tuple(argv), log_path=log_path)

    def signal(self, node, d, sig):
        self.signals.append((node.name, d.pid, sig))
        if sig in ("KILL", "TERM") and d.pid not in self.unkillable:
            self.alive.discard(d.pid)
        return True


def test_spawn_pause_resume_kill_stop():
    n1 = N("n1")
    sup = Supervisor("sbtest01", [n1])
    fake = Fake(sup)
    d = sup.spawn(n1, "db", ["db"], log_path="/x")
    assert sup.get(n1, "db") is d and sup.running(n1, "db") and d.pid in fake.registered
    sup.pause(n1, "db")
    assert sup.paused(n1, "db") and fake.signals[-1] == ("n1", d.pid, "STOP")
    sup.resume(n1, "db")
    assert not sup.paused(n1, "db") and fake.signals[-1] == ("n1", d.pid, "CONT")
    sup.pause(n1, "db")
    assert sup.kill(n1, "db", 1.0) is True
    assert sup.get(n1, "db") is None and not sup.paused(n1, "db") and d.pid not in fake.registered
    assert sup.kill(n1, "db", 1.0) is True  # nothing recorded: nothing to do
    d2 = sup.spawn(n1, "db", ["db"], log_path="/x")
    sup.stop(n1, "db")
    assert [s for _, p, s in fake.signals if p == d2.pid] == ["TERM", "CONT"]
    assert sup.get(n1, "db") is None and d2.pid not in fake.registered
    sup.stop(n1, "db")  # idempotent


def test_a_process_that_survives_kill_stays_recorded():
    n1 = N("n1")
    sup = Supervisor("sbtest01", [n1])
    fake = Fake(sup, unkillable={10})
    d = sup.spawn(n1, "db", ["db"], log_path="/x")
    assert sup.kill(n1, "db", 0.1) is False
    assert sup.get(n1, "db") is d and d.pid in fake.registered  # teardown tries again


def test_roles_are_separate_and_a_dead_daemon_is_forgotten():
    n1 = N("n1")
    sup = Supervisor("sbtest01", [n1])
    fake = Fake(sup)
    a = sup.spawn(n1, "server", ["s"], log_path="/a")
    b = sup.spawn(n1, "sentinel", ["t"], log_path="/b")
    fake.alive.discard(a.pid)  # crashed on its own
    assert not sup.running(n1, "server") and sup.running(n1, "sentinel")
    assert sup.forget(n1, "server") is a and sup.get(n1, "server") is None
    assert sup.get(n1, "sentinel") is b and a.pid not in fake.registered
