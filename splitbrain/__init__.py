"""splitbrain: Jepsen-style consistency testing. The Python API for gating CI:

    import splitbrain
    result = splitbrain.run(db="redis", workload="register", nemesis="partition", time_limit=20)
    assert result.valid, result.summary

Everything is installed under this one package: `splitbrain.harness` (the controller),
`splitbrain.workloads`, `splitbrain.nemesis`, `splitbrain.checkers`, `splitbrain.reports`
(the repository keeps them as top-level folders; see pyproject.toml).
"""

from splitbrain.api import RunResult, check, run

__all__ = ["run", "check", "RunResult"]
