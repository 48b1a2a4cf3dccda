"""The architecture's one-way arrows, enforced (import-linter contracts in pyproject.toml).

Checkers and reports import only the history model, errors and each other's result types
(so analysis works on a laptop with nothing else installed); workloads do not know the
checkers or the datastores; the layers run entry points → runner → config → nemesis →
datastores → clusters → remotes → the ground floor, with no import going up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_contracts_hold():
    argv = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())", "--no-cache"]
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_a_forbidden_import_is_caught(tmp_path):
    """The contracts can fail: a checker importing the runner breaks the first one."""
    pkg = tmp_path / "src"
    for name, body in {"harness/__init__.py": "", "harness/runner.py": "",
                       "harness/history.py": "", "checkers/__init__.py": "",
                       "checkers/bad.py": "import harness.runner\n"}.items():
        f = pkg / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(body)
    cfg = tmp_path / "contracts.toml"
    cfg.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_packages = ["harness", "checkers"]
        [[tool.importlinter.contracts]]
        name = "checkers stay pure"
        type = "forbidden"
        source_modules = ["checkers"]
        forbidden_modules = ["harness.runner"]
    """))
    r = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import "
                        "lint_imports_command; sys.exit(lint_imports_command())",
                        "--config", str(cfg), "--no-cache"], cwd=str(pkg), capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(pkg)))
    assert r.returncode != 0 and "checkers.bad -> harness.runner" in r.stdout, r.stdout + r.stderr
