"""`splitbrain image build | ls | check`: the docker backend's node image.

    splitbrain image build                    # debootstrap + docker import; cached by content
    splitbrain image build --with-java        # + openjdk-17-jre-headless (Cassandra)
    splitbrain image build --dockerfile ./Dockerfile   # where `FROM …` can be pulled
    splitbrain image build --print-dockerfile # the equivalent Dockerfile, to adapt
    splitbrain image ls                       # splitbrain node images on the engine
    splitbrain image check redis:7            # does an image have what nodes need?

No container registry is needed for the default build: only a Debian package mirror.
Exit 254 with one sentence when the engine, root or debootstrap is missing.
"""

from __future__ import annotations

import click

from splitbrain.harness.dbs import NAMES as DB_NAMES


def _log(msg: str) -> None:
    click.echo(f"  {msg}", err=True)


@click.group("image")
def image_cmd():
    """Build, list and check the node image of the docker backend."""


@image_cmd.command("build")
@click.option("--with-java", is_flag=True, help="Also install openjdk-17-jre-headless (Cassandra).")
@click.option("--package", "extra", multiple=True, help="An extra Debian package (repeatable).")
@click.option("--dockerfile", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Build from this Dockerfile (its directory is the context; build arg "
                   "PACKAGES holds the package list) instead of debootstrap.")
@click.option("--mirror", default=None, help="Debian mirror for debootstrap.  [default: http://deb.debian.org/debian]")
@click.option("--cache-dir", default=None, help="Where the rootfs tarball is kept.  [default: /var/cache/splitbrain/images]")
@click.option("--force", is_flag=True, help="Rebuild from scratch even if cached.")
@click.option("--docker-host", default=None, help="Engine URL.  [default: $DOCKER_HOST or local]")
@click.option("--print-dockerfile", is_flag=True, help="Print the equivalent Dockerfile and exit.")
def build_cmd(with_java, extra, dockerfile, mirror, cache_dir, force, docker_host,
              print_dockerfile):
    """Build the node image (Debian bookworm: redis, iptables, iproute2, libfaketime,
    openssh-server, python3) without pulling from any registry; reuse it if present."""
    from splitbrain.harness.cluster import docker_image

    pkgs = docker_image.packages(with_java, extra)
    if print_dockerfile:
        click.echo(docker_image.dockerfile_text(pkgs), nl=False)
        return 0
    from splitbrain.harness.control.docker import docker_client

    client = docker_client(docker_host)
    res = docker_image.build_image(client, with_java=with_java, extra_packages=extra,
                                   dockerfile=dockerfile,
                                   mirror=mirror or docker_image.DEFAULT_MIRROR,
                                   cache=cache_dir, force=force, log=_log)
    click.echo(f"{res.tag}  ({res.method}, {res.seconds:.1f}s)")
    return 0


@image_cmd.command("ls")
@click.option("--docker-host", default=None, help="Engine URL.  [default: $DOCKER_HOST or local]")
def ls_cmd(docker_host):
    """List splitbrain node images on the engine."""
    from splitbrain.harness.cluster import docker_image
    from splitbrain.harness.control.docker import docker_client

    client = docker_client(docker_host)
    rows = docker_image.list_images(client)
    if not rows:
        click.echo("no splitbrain node images; `splitbrain image build` makes one")
        return 0
    for r in rows:
        click.echo(f"{r['tag']:<34} {r['id']:<20} {r['size_mb']:>8.1f} MB  {r['created'][:19]}")
    return 0


@image_cmd.command("check")
@click.argument("image")
@click.option("--db", type=click.Choice(DB_NAMES), default="redis", show_default=True)
@click.option("--docker-host", default=None, help="Engine URL.  [default: $DOCKER_HOST or local]")
def check_cmd(image, db, docker_host):
    """Check that IMAGE has every command splitbrain runs on nodes (exit 254 if not)."""
    from splitbrain.harness.cluster import docker_image
    from splitbrain.harness.control.docker import docker_client

    from splitbrain.harness.dbs import datastore

    client = docker_client(docker_host)
    docker_image.require_tools(client, image, datastore(db).needs.in_image())  # host_dirs: mounted
    click.echo(f"{image}: has everything a {db} node needs")
    return 0
