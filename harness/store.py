"""The store layout (architecture §7).

    store/<test-name>/<YYYYMMDDTHHMMSS>/{test.json, history.jsonl, results.json, report.html,
                                        junit.xml, summary.md, splitbrain.log, nodes/<node>/…}
    store/<test-name>/latest -> <YYYYMMDDTHHMMSS>      store/latest -> <test-name>/<…>
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timezone

RUN_DIR_RE = re.compile(r"^\d{8}T\d{6}(?:-\d+)?$")


def new_run_dir(store_root: str, test_name: str) -> str:
    """Create and return a fresh run directory (a suffix keeps runs in the same second apart)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", test_name) or "test"
    base = os.path.join(os.path.abspath(store_root), safe)
    os.makedirs(base, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    for n in range(1000):
        name = stamp if n == 0 else f"{stamp}-{n}"
        path = os.path.join(base, name)
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run directory under {base}")


def _relink(link: str, target: str) -> None:
    tmp = f"{link}.tmp{os.getpid()}{int(time.time() * 1e6)}"
    os.symlink(target, tmp)
    os.replace(tmp, link)


def update_latest(run_dir: str) -> None:
    """Point `<test>/latest` and `store/latest` at run_dir (relative links, atomic swaps)."""
    run_dir = os.path.abspath(run_dir)
    test_dir = os.path.dirname(run_dir)
    store_root = os.path.dirname(test_dir)
    _relink(os.path.join(test_dir, "latest"), os.path.basename(run_dir))
    _relink(os.path.join(store_root, "latest"),
            os.path.join(os.path.basename(test_dir), os.path.basename(run_dir)))


def list_runs(store_root: str) -> list[str]:
    """Every run directory in the store, newest first."""
    out = []
    root = os.path.abspath(store_root)
    if not os.path.isdir(root):
        return out
    for test in os.listdir(root):
        tdir = os.path.join(root, test)
        if not os.path.isdir(tdir) or os.path.islink(tdir):
            continue
        for run in os.listdir(tdir):
            rdir = os.path.join(tdir, run)
            if RUN_DIR_RE.match(run) and os.path.isdir(rdir) and not os.path.islink(rdir):
                out.append(rdir)
    out.sort(key=lambda p: (os.path.basename(p), p), reverse=True)
    return out
