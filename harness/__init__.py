"""splitbrain's controller: processes, hosts, networks, histories.

Kept import-light on purpose: `import harness.history` must work on a laptop with
nothing but the Python dependencies installed (checkers and reports rely on it).
"""

__version__ = "0.1.0"
