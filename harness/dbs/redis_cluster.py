"""Redis Cluster as the system under test (`--db redis --topology cluster`).

Layout rule: `--nodes N` with N even and ≥ 6 makes P = N/2 shards, each one primary with
one replica: n1..nP are the initial primaries, n(P+i) replicates n(i); primary i owns the
i-th of P near-equal contiguous ranges of the 16384 hash slots. Three primaries is the
least that lets the cluster bus promote a replica when one primary is cut off (a
failover needs the votes of a majority of primaries). Other counts are refused (254).

    db = RedisClusterDB(nodes, read_from="primary", store_dir=run_dir, prefix="sb1a2b3c")
    for n in nodes: db.setup(n)
    for n in nodes: db.start(n)
    db.wait_ready(60)       # creates the cluster on first call: epochs, slots, MEET, REPLICATE
    c = db.client(nodes[0], "list", process=0)   # RedisClusterClient (redis_cluster_client.py)

Every node runs `cluster-enabled yes` with `cluster-node-timeout` 2000 ms, so a primary
cut off from its shard is replaced within a few seconds of a test (and, for those same
seconds, keeps acknowledging writes its replica never receives: asynchronous
replication), and `cluster-replica-validity-factor 0`, so a replica that lost its link
during a long fault may still be promoted. The cluster is created through our own RESP
connection, deterministically: `CLUSTER SET-CONFIG-EPOCH i` on each node (no epoch
collision to resolve), `ADDSLOTSRANGE` on the primaries, `MEET` from n1, then
`REPLICATE` on each replica once it knows its primary. `nodes.conf` lives in the data
dir, so a killed node restarts as the member it was (persistence is still off: its data
comes back empty and resyncs from its shard's primary, or — if no failover happened — it
is an empty primary, the hazard the lost-update checkers then show).

Ready / settled = every node answers, says `cluster_state:ok` with all 16384 slots
assigned and all N nodes known, every node's `CLUSTER SLOTS` is the same map, every shard
has one primary and its replicas with their replication link up.
"""

from __future__ import annotations

import time

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.dbs.redis import RedisDB, _info_fields, render_redis_conf
from splitbrain.harness.dbs.redis_client import RedisTopology
from splitbrain.harness.dbs.resp import Ambiguous, NotSent, ReplyError, RespConnection
from splitbrain.harness.errors import EnvironmentProblem, InputError

SLOTS = 16384
NODE_TIMEOUT_MS = 2000
# The models whose ops touch one key each (a Lua script names its one key): they route by
# hash slot. Multi-key transactions would need hash tags and are not offered.
CLUSTER_MODELS = ("register", "list", "set", "counter")


def layout(n: int) -> list[tuple[int, list[int]]]:
    """[(primary index, [replica indices])] for n nodes (indices into the node list);
    InputError unless n is even and at least 6 (see the module docstring)."""
    if n < 6 or n % 2:
        raise InputError(f"--topology cluster needs an even --nodes of 6 or more "
                         f"(N/2 primaries, each with one replica), not {n}")
    p = n // 2
    return [(i, [p + i]) for i in range(p)]


def slot_ranges(p: int) -> list[tuple[int, int]]:
    """P contiguous, near-equal, inclusive slot ranges covering 0..16383."""
    out, start = [], 0
    for i in range(p):
        end = (SLOTS * (i + 1)) // p - 1
        out.append((start, end))
        start = end + 1
    return out


def render_cluster_conf(node: Node, *, port: int, data_dir: str, logfile: str,
                        appendfsync: str | None, node_timeout_ms: int) -> str:
    """redis.conf of a cluster node: the replication settings plus cluster mode."""
    base = render_redis_conf(node, port=port, data_dir=data_dir, logfile=logfile,
                             replicaof=None, appendfsync=appendfsync)
    return base + "\n".join([
        "cluster-enabled yes",
        "cluster-config-file nodes.conf",
        f"cluster-node-timeout {node_timeout_ms}",
        f"cluster-announce-ip {node.address}",
        # a replica cut off for a long fault may still take over (the test wants failover)
        "cluster-replica-validity-factor 0",
        # failover only by the cluster's own election, never to a replica-less primary
        "cluster-allow-replica-migration no",
    ]) + "\n"


def parse_slots(reply) -> list[tuple[int, int, str, tuple[str, ...]]] | None:
    """CLUSTER SLOTS → sorted [(start, end, primary address, (replica addresses…))]."""
    if not isinstance(reply, list):
        return None
    out = []
    for entry in reply:
        if not isinstance(entry, list) or len(entry) < 3:
            return None
        addrs = []
        for member in entry[2:]:
            if not isinstance(member, list) or not member:
                return None
            a = member[0]
            addrs.append(a.decode() if isinstance(a, bytes) else str(a))
        out.append((int(entry[0]), int(entry[1]), addrs[0], tuple(sorted(addrs[1:]))))
    return sorted(out)


class RedisClusterDB(RedisDB):
    """RedisDB for `topology="cluster"`: lifecycle as RedisDB (the same Supervisor, pids,
    logs, kill/pause/clock), cluster creation, readiness and clients per hash slot."""

    ready_timeout = 90.0

    def __init__(self, nodes: list[Node], *, read_from: str = "primary",
                 node_timeout_ms: int = NODE_TIMEOUT_MS, wait_replicas: int = 0, **kw):
        self.shards = layout(len(nodes))
        super().__init__(nodes, topology="replication", read_from=read_from, **kw)
        self.topology = "cluster"
        self.node_timeout_ms = node_timeout_ms
        self.topo = RedisTopology(nodes=tuple(self.nodes), kind="cluster", read_from=read_from,
                                  master_name=self.prefix, port=self.port,
                                  connect_timeout=self.topo.connect_timeout,
                                  op_timeout=self.topo.op_timeout)
        self._created = False
        self.wait_replicas = wait_replicas  # WAIT after every write (0: no WAIT)
        # (slot, source, target, source id, target id) of migrations left half-done
        self.pending_migrations: list[tuple] = []

    def setup(self, node: Node) -> None:
        p = self._paths(node)
        node.remote.exec(["mkdir", "-p", p["data"]], timeout=10)
        self._put(node, p["conf"], render_cluster_conf(
            node, port=self.port, data_dir=p["data"], logfile=p["log"],
            appendfsync=self.appendfsync, node_timeout_ms=self.node_timeout_ms))

    def start(self, node: Node) -> None:
        """Start redis-server; a restart rejoins from its own nodes.conf."""
        with self.procs.lock(node):
            st = self._state[node.name]
            if st.redis is not None and not self.procs.running(node, "redis-server"):
                self.procs.forget(node, "redis-server")
            if st.redis is None:
                p = self._paths(node)
                self._spawn(node, "redis-server", ["redis-server", p["conf"]], p["stdout"])
                st.started_once = True

    @property
    def claims(self) -> dict:
        return {"writes": "asynchronously replicated", "reads": f"from {self.read_from}",
                # each key's ops on its one primary, as in `replication`
                "linearizable_registers": self.read_from == "primary", "realtime": False,
                "summary": f"Redis Cluster, {len(self.shards)} shards of 1 primary + 1 "
                           f"replica, reads from {self.read_from}: asynchronous replication, "
                           f"failover by the cluster bus"}

    def client(self, node: Node, model, process: int, *, final: bool = False):
        from splitbrain.harness.dbs.redis_cluster_client import RedisClusterClient

        return RedisClusterClient(self.topo, node, model, process, pinned=final,
                                  wait_replicas=self.wait_replicas)

    # -- creation and readiness ------------------------------------------------------------

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self._created:
            self._create(deadline)
            self._created = True
        # the parent's polling loop, over this topology's _not_ready_reason
        super().wait_ready(max(0.0, deadline - time.monotonic()))

    def _must(self, node: Node, *args, deadline: float, what: str):
        """Call until it succeeds (a node still starting) or the deadline passes."""
        last = "no answer"
        while True:
            conn = RespConnection(node.address, self.port, connect_timeout=1.0, op_timeout=2.0)
            try:
                return conn.call(*args)
            except (NotSent, Ambiguous, ReplyError) as e:
                last = str(e)
            finally:
                conn.close()
            if time.monotonic() >= deadline:
                raise EnvironmentProblem(f"redis cluster: {what} on {node.name} failed: {last} "
                                         f"(log: {self._log_tail(node)})")
            time.sleep(0.2)

    def _create(self, deadline: float) -> None:
        ids = {}
        for i, n in enumerate(self.nodes):
            self._must(n, "PING", deadline=deadline, what="PING")
            ids[n.name] = _text(self._must(n, "CLUSTER", "MYID", deadline=deadline,
                                           what="CLUSTER MYID"))
            # distinct epochs up front: no collision for the cluster to resolve
            self._must(n, "CLUSTER", "SET-CONFIG-EPOCH", i + 1, deadline=deadline,
                       what="CLUSTER SET-CONFIG-EPOCH")
        for (pi, _), (lo, hi) in zip(self.shards, slot_ranges(len(self.shards))):
            self._must(self.nodes[pi], "CLUSTER", "ADDSLOTSRANGE", lo, hi, deadline=deadline,
                       what="CLUSTER ADDSLOTSRANGE")
        first = self.nodes[0]
        for n in self.nodes[1:]:
            self._must(first, "CLUSTER", "MEET", n.address, self.port, deadline=deadline,
                       what=f"CLUSTER MEET {n.name}")
        for pi, reps in self.shards:
            for ri in reps:
                # REPLICATE fails until the replica has learnt its primary by gossip
                self._must(self.nodes[ri], "CLUSTER", "REPLICATE", ids[self.nodes[pi].name],
                           deadline=deadline, what="CLUSTER REPLICATE")

    def settle(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            reason = self._not_ready_reason()
            if reason is None or time.monotonic() >= deadline:
                return reason
            time.sleep(0.25)

    def _not_ready_reason(self) -> str | None:
        maps = {}
        for n in self.nodes:
            info = _info_fields(self._call(n, self.port, "CLUSTER", "INFO"))
            if not info:
                return f"{n.name} does not answer CLUSTER INFO"
            if info.get("cluster_state") != "ok":
                return f"{n.name} says cluster_state:{info.get('cluster_state')}"
            if info.get("cluster_slots_assigned") != str(SLOTS):
                return f"{n.name} has {info.get('cluster_slots_assigned')}/{SLOTS} slots assigned"
            if info.get("cluster_known_nodes") != str(len(self.nodes)):
                return f"{n.name} knows {info.get('cluster_known_nodes')}/{len(self.nodes)} nodes"
            m = parse_slots(self._call(n, self.port, "CLUSTER", "SLOTS"))
            if m is None:
                return f"{n.name} does not answer CLUSTER SLOTS"
            maps[n.name] = m
        views = {tuple(m) for m in maps.values()}
        if len(views) != 1:
            return "nodes disagree on slot ownership"
        slot_map = next(iter(views))
        want = len(self.shards[0][1])
        members = []
        for lo, hi, primary, replicas in slot_map:
            if len(replicas) != want:
                return f"slots {lo}-{hi}: primary {primary} has {len(replicas)}/{want} replicas"
            members += [primary, *replicas]
        if sorted(set(members)) != sorted(n.address for n in self.nodes):
            return "not every node is in exactly one shard"
        replica_addrs = {a for _, _, _, reps in slot_map for a in reps}
        for n in self.nodes:
            if n.address in replica_addrs:
                fields = _info_fields(self._call(n, self.port, "INFO", "replication"))
                if fields.get("master_link_status") != "up":
                    return f"replica {n.name}'s link to its primary is not up"
        return None


    # -- slot migration (the slot-migrate fault, nemesis/slot_migrate.py) -------------------

    def _ids_and_map(self):
        """({address: node id}, slot map) as the first answering node sees them."""
        for n in self.nodes:
            raw = self._call(n, self.port, "CLUSTER", "NODES", timeout=2.0)
            m = parse_slots(self._call(n, self.port, "CLUSTER", "SLOTS", timeout=2.0))
            if isinstance(raw, bytes) and m:
                ids = {}
                for line in raw.decode("utf-8", "replace").splitlines():
                    parts = line.split()
                    if len(parts) > 2:
                        ids[parts[1].split(":", 1)[0]] = parts[0]
                return ids, m
        raise RuntimeError("no node answers CLUSTER NODES / CLUSTER SLOTS")

    def _node_at(self, address: str) -> Node:
        for n in self.nodes:
            if n.address == address:
                return n
        raise RuntimeError(f"the slot map names an unknown node {address}")

    def migrate_slots(self, rng, count: int = 2) -> dict:
        """Move `count` slots (ones holding keys, when any do) from one random primary to
        another, the way `redis-cli --cluster reshard` does: SETSLOT IMPORTING on the
        target, MIGRATING on the source, MIGRATE the keys in batches, then SETSLOT NODE on
        both and the other primaries. Clients meanwhile get ASK (keys already moved) and
        MOVED (after). Returns what moved; raises on failure, leaving the pending slots in
        `self.pending_migrations` for `finish_migrations` (the heal)."""
        ids, m = self._ids_and_map()
        primaries = sorted({p for _, _, p, _ in m})
        if len(primaries) < 2:
            raise RuntimeError("fewer than two primaries own slots")
        src_addr, dst_addr = rng.sample(primaries, 2)
        src, dst = self._node_at(src_addr), self._node_at(dst_addr)
        owned = [s for lo, hi, p, _ in m if p == src_addr for s in range(lo, hi + 1)]
        from splitbrain.harness.dbs.redis_cluster_client import key_slot

        keys = self._call(src, self.port, "SCAN", 0, "COUNT", 1000, timeout=2.0)
        with_keys = sorted({key_slot(k) for k in (keys[1] if isinstance(keys, list) else [])}
                           & set(owned))
        slots = (rng.sample(with_keys, min(count, len(with_keys))) if with_keys
                 else rng.sample(owned, min(count, len(owned))))
        pending = self.pending_migrations
        moved = 0
        for slot in sorted(slots):
            pending.append((slot, src, dst, ids[src_addr], ids[dst_addr]))
            moved += self._migrate_one(slot, src, dst, ids[src_addr], ids[dst_addr])
            pending.pop()
        return {"slots": sorted(slots), "from": src.name, "to": dst.name, "keys": moved}

    def _cmd(self, node: Node, *args, timeout: float = 5.0):
        conn = RespConnection(node.address, self.port, connect_timeout=1.0, op_timeout=timeout)
        try:
            return conn.call(*args)
        finally:
            conn.close()

    def _migrate_one(self, slot: int, src: Node, dst: Node, src_id: str, dst_id: str,
                     *, resume: bool = False) -> int:
        if not resume:
            self._cmd(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
            self._cmd(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        moved = 0
        while True:
            keys = self._cmd(src, "CLUSTER", "GETKEYSINSLOT", slot, 100)
            if not keys:
                break
            self._cmd(src, "MIGRATE", dst.address, self.port, "", 0, 5000, "KEYS", *keys,
                      timeout=10.0)
            moved += len(keys)
        # the target first: once it owns the slot, the source's MOVED points at it
        self._cmd(dst, "CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        self._cmd(src, "CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        for n in self.primaries():
            if n.name not in (src.name, dst.name):
                try:
                    self._cmd(n, "CLUSTER", "SETSLOT", slot, "NODE", dst_id)
                except (NotSent, Ambiguous, ReplyError):
                    pass  # gossip tells it soon enough
        return moved

    def finish_migrations(self) -> list[int]:
        """Complete every migration a failed `migrate_slots` left open (the heal): move
        the rest of its keys and give the slot to the target. Returns the slots done;
        raises if one still cannot be finished."""
        done = []
        for slot, src, dst, src_id, dst_id in list(self.pending_migrations):
            self._migrate_one(slot, src, dst, src_id, dst_id, resume=True)
            self.pending_migrations.remove((slot, src, dst, src_id, dst_id))
            done.append(slot)
        return done


def _text(b) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)
