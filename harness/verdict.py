"""Exit codes and `--fail-on`: the one place a verdict becomes a process exit status.

Jepsen's codes: 0 valid · 1 invalid · 2 unknown · 130 interrupted · 254 bad arguments or
malformed input · 255 internal error. `--fail-on invalid` lets an unknown verdict pass
(exit 0). A leaf module: the CLI, the commands, the runner and the Python API import it,
and it imports nothing of theirs.

    exit_code(True) == 0; exit_code("unknown") == 2; exit_code("unknown", "invalid") == 0
    worst([0, 2, 1]) == 1          # interrupted > invalid > unknown > valid
"""

from __future__ import annotations

from typing import Any, Iterable

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN = 0, 1, 2
EXIT_INTERRUPTED, EXIT_BAD_INPUT, EXIT_INTERNAL = 130, 254, 255
FAIL_ON = ("invalid", "unknown")


def exit_code(valid: Any, fail_on: str = "unknown") -> int:
    """The exit status of a verdict (True, False or anything else = unknown)."""
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_VALID if fail_on == "invalid" else EXIT_UNKNOWN


def worst(codes: Iterable[int]) -> int:
    """The status of several runs: interrupted > invalid > unknown > valid."""
    codes = list(codes)
    for c in (EXIT_INTERRUPTED, EXIT_INVALID, EXIT_UNKNOWN):
        if c in codes:
            return c
    return EXIT_VALID
