"""`splitbrain serve`: browse the runs in a store over HTTP (local only by default)."""

from __future__ import annotations

import os

import click

from splitbrain.harness.errors import InputError


@click.command("serve")
@click.option("--store", default="./store", show_default=True, type=click.Path(file_okay=False),
              help="The store directory (store/<test>/<timestamp>/).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes your runs to the network.")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="A host name browsers may use to reach this server (repeatable); IP "
                   "addresses and localhost always work, other names are refused (DNS rebinding).")
@click.option("--verbose", "-v", is_flag=True, help="Log every request.")
def serve_cmd(store, port, host, allow_hosts, verbose):
    """List runs newest first, open their reports, download a run as a zip."""
    from splitbrain.reports.serve import make_server

    if not os.path.isdir(store):
        raise InputError(f"--store {store}: no such directory")
    try:
        server = make_server(store, host, port, verbose=verbose, allow_hosts=allow_hosts)
    except OSError as e:
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    h, p = server.server_address[:2]
    click.echo(f"serving {os.path.abspath(store)} at http://{h}:{p}/  (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
