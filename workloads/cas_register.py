"""The `cas-register` workload: compare-and-set registers on a few hot keys.

Jepsen's CAS register (riptano/jepsen `lwt`): blind writes, cas `[expected, new]` and reads
on few keys, so operations contend and compare-and-set outcomes matter. Written values are
unique per key (checker-spec §2.1); cas expects the last value this generator handed out
for the key (⊥ = None before the first write), so it succeeds when nobody intervened. On
Cassandra every op is a lightweight transaction (Paxos) and reads are SERIAL
(harness/dbs/cassandra_client.py); on Redis cas is a Lua script. The history is a
register history, checked with the register checkers and, the claim it exists for,
`linearizable` (issue 11).
"""

from __future__ import annotations

from typing import Any

from splitbrain.workloads.register import RegisterWorkload


class CasRegisterWorkload(RegisterWorkload):
    name = "cas-register"
    linearizable = True  # writes must be linearizable (Cassandra: every op through Paxos)
    checkers = (*RegisterWorkload.checkers, "linearizable")  # the claim it tests
    default_max_writes = 60
    default_read_ratio = 0.4
    cas_from_bottom = True

    def __init__(self, *, keys_active: int = 3, cas_ratio: float = 0.6, **kw: Any):
        # Few keys keep CAS contended: at most 3 active, whatever the run's default.
        super().__init__(keys_active=min(keys_active, 3), cas=True, cas_ratio=cas_ratio, **kw)
