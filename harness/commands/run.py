"""`splitbrain run`: start a cluster, hammer it under faults, check the history.

With no flags: 3 Redis nodes in network namespaces, async replication, reads from the
replicas, the register workload and the partition nemesis for 30 s.
"""

from __future__ import annotations

import os
import time

import click

from splitbrain.harness.config import (BACKENDS, DBS, READ_FROM, STICKINESS, TOPOLOGIES, WORKLOADS, Test,
                            build_test)
from splitbrain.harness.dbs.etcd.config import READ_MODES
from splitbrain.harness.verdict import worst

D = Test()  # defaults shown in --help


def _progress_renderer(console):
    from rich.live import Live
    from rich.table import Table

    state: dict = {"live": None, "last": (0.0, 0)}

    def render(stats, test):
        now = time.monotonic()
        elapsed = now - stats.started if stats.phase == "running" else 0.0
        t_prev, n_prev = state["last"]
        total = stats.total
        rate = (total - n_prev) / (now - t_prev) if now > t_prev and t_prev else 0.0
        state["last"] = (now, total)
        grid = Table.grid(padding=(0, 2))
        grid.add_row("[bold]phase[/]", stats.phase)
        if stats.phase == "running":
            grid.add_row("[bold]elapsed[/]", f"{elapsed:5.1f}s / {test.time_limit:g}s")
        grid.add_row("[bold]ops[/]", f"{total}  ({rate:,.0f} ops/s)")
        grid.add_row("[bold]ok / fail / info[/]",
                      f"[green]{stats.ok}[/] / [red]{stats.fail}[/] / [yellow]{stats.info}[/]")
        grid.add_row("[bold]active fault[/]", ", ".join(stats.active) or "none")
        if state["live"] is None:
            state["live"] = Live(grid, console=console, refresh_per_second=4, transient=True)
            state["live"].start()
        else:
            state["live"].update(grid)

    def close():
        if state["live"] is not None:
            state["live"].stop()
            state["live"] = None

    return render, close


class PartsCommand(click.Command):
    """`run --help` with the flags grouped by the part they configure: the run itself,
    each registered datastore and each backend (their specs name their flags)."""

    def format_options(self, ctx, formatter):
        from splitbrain.harness.cluster import backend, NAMES as BACKEND_NAMES
        from splitbrain.harness.dbs import NAMES as DB_NAMES, datastore

        owner: dict[str, str] = {}
        for n in DB_NAMES:
            for f in datastore(n).flags:
                owner.setdefault(f, f"Datastore {n}")
        for n in BACKEND_NAMES:
            for f in backend(n).flags:
                owner.setdefault(f, f"Backend {n}")
        sections: dict[str, list] = {"Run": [], **{t: [] for t in owner.values()}}
        for p in self.get_params(ctx):
            rec = p.get_help_record(ctx)
            if rec is not None:
                sections.setdefault(owner.get(p.name, "Run"), []).append(rec)
        for title, rows in sections.items():
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.command("run", cls=PartsCommand)
@click.option("--db", type=click.Choice(DBS), default=None, help=f"Datastore.  [default: {D.db}]")
@click.option("--topology", type=click.Choice(TOPOLOGIES), default=None,
              help=f"Redis topology.  [default: {D.topology}]")
@click.option("--backend", type=click.Choice(BACKENDS), default=None,
              help=f"Where nodes run.  [default: {D.backend}]")
@click.option("--nodes", type=click.IntRange(1, 9), default=None, help=f"Node count (1-9).  [default: {D.nodes}]")
@click.option("--workload", type=click.Choice(WORKLOADS), default=None,
              help=f"What clients do.  [default: {D.workload}]")
@click.option("--nemesis", default=None,
              help=f"Comma-separated fault families or faults, or none.  [default: {D.nemesis}]")
@click.option("--partition", default=None,
              help='An explicit partition for the partition nemesis: "n1,n2|n3,n4,n5" (groups) or "n1>n2" (n2 drops traffic from n1).')
@click.option("--packet-engine", type=click.Choice(["auto", "netem", "nfqueue"]), default=None,
              help="Packet faults through tc netem, or through NFQUEUE to a userspace scheduler (kernels without netem).  [default: auto]")
@click.option("--redis-appendfsync", type=click.Choice(["always", "everysec", "no"]), default=None,
              help="redis: turn on the AOF with this fsync policy.  [default: no persistence; everysec with the disk nemesis]")
@click.option("--nemesis-interval", type=float, default=None,
              help=f"Seconds between fault changes.  [default: {D.nemesis_interval:g}]")
@click.option("--time-limit", type=float, default=None,
              help=f"Seconds of workload.  [default: {D.time_limit:g}]")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=None,
              help=f"Logical client processes.  [default: {D.concurrency}]")
@click.option("--rate", type=float, default=None,
              help=f"Total ops/s target, 0 = unlimited.  [default: {D.rate:g}]")
@click.option("--read-from", type=click.Choice(READ_FROM), default=None,
              help=f"Where reads go.  [default: {D.read_from}]")
@click.option("--stickiness", type=click.Choice(STICKINESS), default=None,
              help=f"Each process sticks to one node, or picks one per op.  [default: {D.stickiness}]")
@click.option("--quiesce", type=float, default=None,
              help=f"Seconds to wait after healing before final reads.  [default: {D.quiesce:g}]")
@click.option("--seed", type=int, default=None, help="Random seed (recorded in test.json).  [default: random]")
@click.option("--store", "store", default=None, help=f"Store directory.  [default: {D.store}]")
@click.option("--test-count", type=click.IntRange(1, 1000), default=None,
              help=f"Run the test this many times (stops at the first invalid).  [default: {D.test_count}]")
@click.option("--leave-db-running", is_flag=True, default=None,
              help="Keep the cluster up after the run (`splitbrain cluster down PREFIX` removes it).")
@click.option("--subnet", default=None, help="Private subnet for the node network.  [default: a free /24 in 10.77.0.0/16]")
@click.option("--staleness-bound", default=None,
              help="Report reads staler than this: 250ms, 1.5s, 3v, or 1s,3v.  [default: none]")
@click.option("--max-lag", default=None, help="queue: polls further behind than this (500ms, 2s) are invalid.  [default: none]")
@click.option("--max-propagation-lag", default=None, help="propagation: a p99 event lag over this (2s) is invalid.  [default: none]")
@click.option("--consumer-idempotency", type=click.Choice(["none", "dedupe", "version"]), default=None,
              help="propagation: how the consumer applies events: none (append), dedupe (processed-id set), version (newer only).  [default: the workload's]")
@click.option("--queue", type=click.Choice(["redis", "kafka"]), default=None,
              help="propagation: the events queue, Redis Streams or a KRaft Kafka on the same nodes.  [default: redis]")
@click.option("--source", type=click.Choice(["redis", "cassandra"]), default=None,
              help="propagation: the source store (and its outbox), Redis or a 3-node Cassandra on the same nodes.  [default: redis]")
@click.option("--checkers", default=None, help="Comma-separated checkers.  [default: the workload's]")
@click.option("--name", default=None, help="Test name in the store.  [default: <db>-<topology>-<workload>]")
@click.option("--image", default=None, help="docker: node image to use.  [default: build splitbrain's offline]")
@click.option("--docker-host", default=None, help="docker: engine URL (tcp://, ssh://, unix://).  [default: $DOCKER_HOST or local]")
@click.option("--node", "ssh_nodes", multiple=True, help="ssh: a host[:port] (repeatable).")
@click.option("--nodes-file", type=click.Path(dir_okay=False), default=None, help="ssh: a file of host[:port], one a line.")
@click.option("--ssh-user", default=None, help="ssh: login user (sudo is used when not root).  [default: root]")
@click.option("--ssh-key", type=click.Path(dir_okay=False), default=None, help="ssh: private key file.")
@click.option("--ssh-password", default=None, envvar="SPLITBRAIN_SSH_PASSWORD", help="ssh: password (also for sudo); or set SPLITBRAIN_SSH_PASSWORD, which `ps` does not show.")
@click.option("--ssh-known-hosts", type=click.Path(dir_okay=False), default=None, help="ssh: known_hosts file to verify host keys against.  [default: ~/.ssh/known_hosts]")
@click.option("--ssh-insecure", is_flag=True, default=None, help="ssh: accept unknown host keys (logged). Default: verify against known_hosts.")
@click.option("--read-consistency", default=None, help="cassandra: ONE, QUORUM, ALL, LOCAL_*.  [default: QUORUM]")
@click.option("--write-consistency", default=None, help="cassandra: ONE, QUORUM, ALL, LOCAL_*.  [default: QUORUM]")
@click.option("--timestamps", type=click.Choice(["server", "client"]), default=None, help="cassandra: who picks write timestamps.  [default: server]")
@click.option("--cassandra-version", default=None, help="cassandra: 5.0.x version from Maven Central.")
@click.option("--cassandra-commitlog-sync", type=click.Choice(["periodic", "batch", "group"]), default=None,
              help="cassandra: commitlog_sync (periodic acks before the fsync).  [default: periodic]")
@click.option("--cassandra-home", type=click.Path(file_okay=False), default=None, help="cassandra: an unpacked official tarball to use instead.")
@click.option("--read-mode", type=click.Choice(READ_MODES), default=None,
              help=f"etcd: linearizable or serializable ranges.  [default: {D.read_mode}]")
@click.option("--db-opt", "db_options", multiple=True, metavar="KEY=VALUE",
              help="Any datastore option by name (repeatable), e.g. read_consistency=ONE; the datastore flags below are aliases.")
@click.option("--backend-opt", "backend_options", multiple=True, metavar="KEY=VALUE",
              help="Any option of the chosen backend by name (repeatable), e.g. image=my/node:1 (docker) or ssh-user=admin (ssh); the backend flags are aliases.")
@click.option("--kafka-acks", type=click.Choice(["all", "1", "0"]), default=None, help="kafka: producer acks.  [default: all]")
@click.option("--kafka-min-insync", type=int, default=None, help="kafka: the topic's min.insync.replicas.  [default: 2]")
@click.option("--kafka-idempotence/--no-kafka-idempotence", default=None, help="kafka: idempotent producer.  [default: on]")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="A TOML file with any of these settings (flags win).")
@click.option("--fail-on", type=click.Choice(["invalid", "unknown"]), default=None,
              help="Whether an unknown verdict fails (exit 2) or passes (exit 0).  [default: unknown]")
def run_cmd(config_path, **flags):
    """Run a test: a real cluster, concurrent clients, faults, then a verdict.

    Exit 0 valid, 1 invalid, 2 unknown, 254 bad arguments / missing tools, 130 interrupted.
    """
    from rich.console import Console

    from splitbrain.harness.runner import run_many
    from splitbrain.reports.terminal import print_results

    if not flags.get("ssh_nodes"):
        flags["ssh_nodes"] = None
    if not flags.get("db_options"):
        flags["db_options"] = None
    if not flags.get("backend_options"):
        flags["backend_options"] = None
    for k in ("read_consistency", "write_consistency"):
        if flags.get(k):
            flags[k] = flags[k].upper()
    test = build_test(flags, config_path)
    console = Console()
    render, close = _progress_renderer(console)
    # the datastore's first option says its shape (topology, read mode, consistency)
    shape = next(iter(vars(test.db_settings).values()), test.db)
    console.print(f"[bold]splitbrain run[/]: {test.nodes} {test.db} nodes ({shape}, "
                  f"backend {test.backend}), workload {test.workload}, nemesis {test.nemesis}, "
                  f"{test.time_limit:g}s")
    for note in test.notices:
        console.print(f"[yellow]note[/]: {note}")
    codes = []

    def on_outcome(out):
        close()
        clean = out.cleanup is None or out.cleanup["ok"]
        if out.interrupted:
            hist = os.path.join(out.run_dir, "history.jsonl")
            kept = (f"the partial history is {hist}" if os.path.exists(hist)
                    else "no operation had been recorded")
            said = "everything was cleaned up" if clean else "cleanup did NOT finish"
            console.print(f"[yellow]interrupted[/]: {said}; {kept}")
        else:
            print_results(out.results, console=console, report_path=out.report_path)
            figs = out.figures
            console.print(f"time to first op {figs.get('time_to_first_op_s')} s, "
                          f"{figs.get('ops_per_s')} ops/s recorded")
        console.print(f"store: {out.run_dir}")
        if not clean:
            console.print("[red]left behind[/]: " + "; ".join(out.cleanup["errors"])[:2000])
            console.print(f"remove it with: splitbrain cleanup --prefix {out.cleanup['prefix']}")
        if out.figures.get("left_running"):
            prefix = out.figures["left_running"]
            console.print(f"cluster {prefix} left running (--leave-db-running); "
                          f"`splitbrain cluster down {prefix}` removes it")
        codes.append(out.exit_code)  # --fail-on already applied (harness/verdict.py)

    try:
        run_many(test, progress=render, on_outcome=on_outcome)
    finally:
        close()
    return worst(codes)
