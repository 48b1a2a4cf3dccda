"""`splitbrain install cassandra [--version 5.0.x] [--force]`: fetch a datastore's files now.

Cassandra's jars come from Maven Central into the cache
(`harness.dbs.cassandra_install.cache_root()`), so later runs start offline. `splitbrain
run --db cassandra` does the same on first use; this verb lets you do it ahead of time
(e.g. in CI set-up) and see where things went.
"""

from __future__ import annotations

import click

from splitbrain.harness.errors import InputError

TARGETS = ("cassandra", "kafka")


@click.command("install")
@click.argument("target", type=click.Choice(TARGETS))
@click.option("--version", "version", default=None,
              help="Cassandra 5.0.x (default 5.0.8) or Kafka 4.x (default 4.4.0) version.")
@click.option("--force", is_flag=True, default=False, help="Resolve again even if cached.")
def install_cmd(target: str, version: str | None, force: bool) -> None:
    """Install TARGET's files into splitbrain's cache (jars from Maven Central)."""
    if target == "kafka":
        return _install_kafka(version, force)
    from splitbrain.harness.dbs.cassandra_install import find_java, install, installed, validate_version

    if target != "cassandra":  # pragma: no cover - click's Choice already refuses it
        raise InputError(f"cannot install {target!r}; allowed: {', '.join(TARGETS)}")
    version = validate_version(version)
    java = find_java()
    got = None if force else installed(version)
    if got is not None:
        click.echo(f"Cassandra {version} is already installed: {got.lib_dir} (java: {java})")
        return
    dist = install(version, force=force, log=lambda m: click.echo(m, err=True))
    click.echo(f"Cassandra {dist.version} installed: {dist.lib_dir} (java: {java})")


def _install_kafka(version: str | None, force: bool) -> None:
    """Kafka 4.x: kafka_2.13 and its runtime closure (harness/dbs/kafka/install.py)."""
    from splitbrain.harness.dbs.kafka.install import find_java, install, installed, validate_version

    version = validate_version(version)
    java = find_java()
    got = None if force else installed(version)
    if got is not None:
        click.echo(f"Kafka {version} is already installed: {got.lib_dir} (java: {java})")
        return
    dist = install(version, force=force, log=lambda m: click.echo(m, err=True))
    click.echo(f"Kafka {dist.version} installed: {dist.lib_dir} (java: {java})")
