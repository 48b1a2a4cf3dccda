"""The one exception type for bad input (exit code 254).

Raised at the boundary (history files, flags, config) with a message a user can act on;
the CLI prints it without a traceback.
"""


class InputError(Exception):
    """Malformed input or bad arguments. The message names file and line where it can."""


class EnvironmentProblem(InputError):
    """The machine lacks something the run needs (root, a tool, a package)."""
