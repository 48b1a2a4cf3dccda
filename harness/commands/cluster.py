"""`splitbrain cluster up|down|status` and `splitbrain cleanup` (netns backend).

    splitbrain cluster up --nodes 5            # prints the prefix and node addresses
    splitbrain cluster status                  # runs in the registry, live sb* namespaces
    splitbrain cluster down sb1a2b3c           # or: --all
    splitbrain cleanup [--prefix sb1a2b3c]     # every abandoned sb* leftover

A cluster brought up here outlives the command (its record in the run registry is what
`down` and `cleanup` use). Without root, `ip` or `iptables` these exit 254 with one
sentence saying what is missing.
"""

from __future__ import annotations

import json

import click

from splitbrain.harness.errors import InputError


@click.group("cluster")
def cluster_cmd():
    """Bring a bare cluster of network namespaces up or down (no datastore)."""


@cluster_cmd.command("up")
@click.option("--nodes", default=3, show_default=True, type=int, help="number of nodes (1-9)")
@click.option("--subnet", default=None,
              help="private IPv4 subnet for the nodes [default: a free /24 in 10.77.0.0/16]")
@click.option("--prefix", default=None, help="run prefix, 'sb' + letters/digits [default: random]")
@click.option("--workdir-root", default="/var/tmp/splitbrain", show_default=True,
              help="node workdirs go to <root>/<prefix>/<node>")
@click.option("--json", "as_json", is_flag=True, help="print the cluster as JSON")
def up_cmd(nodes, subnet, prefix, workdir_root, as_json):
    """Create the bridge, namespaces and veths and leave them running."""
    from splitbrain.harness.cluster.netns import NetnsCluster, require_netns_tools

    require_netns_tools()
    cluster = NetnsCluster(prefix, nodes=nodes, subnet=subnet, workdir_root=workdir_root,
                           own_workdirs=True)
    made = cluster.up()
    if as_json:
        click.echo(json.dumps({"prefix": cluster.prefix, "subnet": cluster.subnet,
                               "bridge": cluster.bridge,
                               "nodes": [{"name": n.name, "address": n.address,
                                          "netns": n.meta["netns"], "workdir": n.workdir}
                                         for n in made]}))
        return
    click.echo(f"prefix {cluster.prefix}  subnet {cluster.subnet}  bridge {cluster.bridge}")
    for n in made:
        click.echo(f"  {n.name}  {n.address:<15}  netns {n.meta['netns']}  workdir {n.workdir}")
    click.echo(f"enter a node: ip netns exec {made[0].meta['netns']} bash    "
               f"remove: splitbrain cluster down {cluster.prefix}")


@cluster_cmd.command("down")
@click.argument("prefix", required=False)
@click.option("--all", "all_runs", is_flag=True,
              help="every sb* run whose creating process is gone")
@click.option("--force", is_flag=True, help="with --all: also runs still in use")
def down_cmd(prefix, all_runs, force):
    """Remove run PREFIX (namespaces, bridge, veths, rules, its processes)."""
    from splitbrain.harness.cluster.cleanup import cleanup
    from splitbrain.harness.cluster.netns import require_netns_tools

    if bool(prefix) == bool(all_runs):
        raise InputError("give exactly one of PREFIX or --all")
    require_netns_tools()
    report = cleanup(prefix, force=True) if prefix else cleanup(None, force=force)
    _print_report(report)


@cluster_cmd.command("status")
@click.option("--json", "as_json", is_flag=True)
def status_cmd(as_json):
    """List recorded runs and live sb* namespaces, bridges and veths."""
    from splitbrain.harness.cluster import cleanup as cl
    from splitbrain.harness import registry

    runs = []
    for r in registry.runs():
        runs.append({"prefix": r.get("prefix"), "backend": r.get("backend"),
                     "subnet": (r.get("meta") or {}).get("subnet"),
                     "namespaces": r.get("namespaces", []),
                     "pids": [p.get("pid") for p in r.get("pids", [])
                              if registry.same_process(p)],
                     "owner_alive": registry.owner_alive(r)})
    live = {"namespaces": cl.sb_namespaces(), "links": [n for n, _ in cl.sb_links()],
            "iptables": [line for _, line in cl.sb_iptables_rules()]}
    if as_json:
        click.echo(json.dumps({"runs": runs, "live": live}))
        return
    if not runs and not any(live.values()):
        click.echo("no splitbrain runs")
        return
    for r in runs:
        state = "in use" if r["owner_alive"] else "idle"
        click.echo(f"{r['prefix']}  {r['backend']}  {r['subnet'] or ''}  "
                   f"{len(r['namespaces'])} namespaces  {len(r['pids'])} processes  ({state})")
    recorded = {ns for r in runs for ns in r["namespaces"]}
    stray = [ns for ns in live["namespaces"] if ns not in recorded]
    if stray:
        click.echo("unrecorded namespaces: " + " ".join(stray))
    click.echo(f"live: {len(live['namespaces'])} namespaces, {len(live['links'])} links, "
               f"{len(live['iptables'])} iptables rules")


@click.command("cleanup")
@click.option("--prefix", default=None, help="only this run (default: every abandoned sb* run)")
@click.option("--force", is_flag=True, help="also runs whose creating process is alive")
@click.option("--force-pattern", is_flag=True,
              help="also unrecorded sb* namespaces, links and rules that merely match the "
                   "pattern (of --prefix, or of any run not in use)")
def cleanup_cmd(prefix, force, force_pattern):
    """Remove what abandoned runs recorded: namespaces, bridges, veths, iptables rules,
    processes, files. Runs whose controller is still alive are skipped (unless --prefix
    names them, or --force)."""
    from splitbrain.harness.cluster.cleanup import cleanup
    from splitbrain.harness.cluster.netns import require_netns_tools

    require_netns_tools()
    _print_report(cleanup(prefix, force=force, force_pattern=force_pattern))


def _print_report(report) -> None:
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise click.exceptions.Exit(255)
