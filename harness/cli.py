"""`splitbrain` command line (architecture §6).

Exit codes (Jepsen's): 0 valid · 1 invalid · 2 unknown · 254 bad arguments or malformed
input · 255 internal error. Each verb lives in `harness/commands/<verb>.py` and is imported
only when used, so `splitbrain check` stays fast and needs no cluster tooling.
"""

from __future__ import annotations

import importlib
import sys

import click

from splitbrain.harness import __version__
from splitbrain.harness.errors import InputError

from splitbrain.harness.verdict import (EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INVALID,  # noqa: F401
                             EXIT_UNKNOWN, EXIT_VALID, exit_code)

# verb -> "module:attribute"
VERBS = {
    "run": "splitbrain.harness.commands.run:run_cmd",
    "check": "splitbrain.harness.commands.check:check_cmd",
    "report": "splitbrain.harness.commands.report:report_cmd",
    "serve": "splitbrain.harness.commands.serve:serve_cmd",
    "cluster": "splitbrain.harness.commands.cluster:cluster_cmd",
    "cleanup": "splitbrain.harness.commands.cluster:cleanup_cmd",
    "image": "splitbrain.harness.commands.image:image_cmd",
    "install": "splitbrain.harness.commands.install:install_cmd",
}

# Verbs that load histories, check them and exit (the GC may ignore what they loaded).
ONE_SHOT_VERBS = ("check", "run", "report")


def exit_code_for(valid) -> int:
    """Kept for callers of the old name: harness.verdict.exit_code without --fail-on."""
    return exit_code(valid)


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [v for v in VERBS if self._load(v) is not None]

    def get_command(self, ctx, name):
        return self._load(name)

    def _load(self, name):
        target = VERBS.get(name)
        if not target:
            return None
        mod_name, attr = target.split(":")
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name == mod_name:
                return None  # verb not built yet
            raise
        return getattr(mod, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="splitbrain")
def cli():
    """splitbrain: what does your cluster do to data under partitions, clock skew and crashes?

    Exit codes: 0 valid, 1 invalid (anomalies found), 2 unknown, 254 bad arguments or
    input, 255 internal error.
    """


def _sigterm_as_interrupt() -> None:
    """SIGTERM means what Ctrl-C means, in every verb and phase (exit 130, with a message):
    the default action would end the process with 143 and no cleanup."""
    import signal
    import threading

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def main(argv=None) -> None:
    """Console entry point: maps every outcome onto the exit-code contract.

    argv None: this is the `splitbrain` program itself (console script, `python -m
    splitbrain`); its check/run/report verbs exit after checking, so the histories they
    load may be frozen out of the GC (harness/history.py `one_shot_process`). Callers in
    a longer-lived process (tests) pass argv; `serve` lives on."""
    if argv is None and next((a for a in sys.argv[1:] if not a.startswith("-")), None) in ONE_SHOT_VERBS:
        from splitbrain.harness.history import one_shot_process

        one_shot_process()
    _sigterm_as_interrupt()
    try:
        rv = cli.main(args=argv, prog_name="splitbrain", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:  # click's name for a KeyboardInterrupt in a verb
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:  # usage errors, bad flags
        e.show()
        sys.exit(EXIT_BAD_INPUT)
    except InputError as e:
        click.secho(f"error: {e}", fg="red", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception:
        import traceback

        click.secho("splitbrain broke (internal error); please report this:", fg="red", err=True)
        traceback.print_exc()
        sys.exit(EXIT_INTERNAL)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
