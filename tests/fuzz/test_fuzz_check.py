"""Fuzzing `splitbrain check` (issue 15): every hostile history exits 0/1/2/254 within a
time bound, never 255, never with a traceback, and no checker reports "checker error".
Smoke size here; `python3 bench/fuzz.py` runs the same corpus larger and prints counts."""

from __future__ import annotations

import contextlib
import io
import json
import time

import pytest

from tests.fuzz.corpus import cases

SMOKE = 160
TIME_BOUND_S = 20.0


def run_check(tmp_path, name: str, fname: str, data: bytes, argv: list) -> tuple[int, str, dict | None]:
    """`splitbrain check` in-process (the real CLI entry point, main())."""
    from splitbrain.harness.cli import main

    d = tmp_path / name.replace("/", "_")
    d.mkdir(parents=True, exist_ok=True)
    p = d / fname
    p.write_bytes(data)
    out_json = d / "results.json"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["check", str(p), "--out", str(out_json), *argv])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 255
    res = None
    if out_json.exists():
        res = json.loads(out_json.read_text())
    return code, out.getvalue() + err.getvalue(), res


def checker_errors(res: dict | None) -> list[str]:
    if not res:
        return []
    return [f"{n}: {c.get('reason')}" for n, c in (res.get("checkers") or {}).items()
            if "checker error" in str(c.get("reason") or "")]


@pytest.mark.parametrize("case", list(cases(SMOKE, seed=15)), ids=lambda c: c[0])
def test_check_survives_hostile_history(tmp_path, case):
    name, fname, data, argv = case
    t0 = time.monotonic()
    code, text, res = run_check(tmp_path, name, fname, data, argv)
    took = time.monotonic() - t0
    assert code in (0, 1, 2, 254), f"exit {code}:\n{text[-3000:]}"
    assert "Traceback" not in text and "internal error" not in text, text[-3000:]
    assert not checker_errors(res), checker_errors(res)
    assert took < TIME_BOUND_S, f"took {took:.1f}s"
    if code == 254:
        msg = [l for l in text.splitlines() if l.startswith("error:")]
        assert msg and len(msg[0]) < 1000, text[-2000:]
