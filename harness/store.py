"""The store layout (architecture §7).

    store/<test-name>/<YYYYMMDDTHHMMSS>/{test.json, history.jsonl, results.json, report.html,
                                        junit.xml, summary.md, splitbrain.log, nodes/<node>/…}
    store/<test-name>/latest -> <YYYYMMDDTHHMMSS>      store/latest -> <test-name>/<…>
"""

from __future__ import annotations

import logging
import os
import re
import time
from datetime import datetime, timezone

from splitbrain.harness.errors import InputError

RUN_DIR_RE = re.compile(r"^\d{8}T\d{6}(?:-\d+)?$")
TEST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
RESERVED_NAMES = frozenset((".", "..", "latest"))

log = logging.getLogger("splitbrain")


def validate_test_name(name: object) -> str:
    """A test name is one directory of the store: 1-100 of letters, digits, `.`, `_`, `-`,
    starting with a letter or digit, and not `latest` (the store's own link). Anything
    else could escape the store, shadow a link, or be refused by `serve`."""
    if not isinstance(name, str) or name in RESERVED_NAMES or not TEST_NAME_RE.match(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 40 else repr(name[:40]) + "…"
        raise InputError(f"--name {shown}: a test name is 1-100 letters, digits, '.', '_' or "
                         "'-', starting with a letter or digit, and not 'latest'")
    return name


def new_run_dir(store_root: str, test_name: str) -> str:
    """Create and return a fresh run directory (a suffix keeps runs in the same second apart)."""
    validate_test_name(test_name)
    base = os.path.join(os.path.abspath(store_root), test_name)
    if os.path.islink(base):
        raise InputError(f"{base} is a symlink; a test directory of the store must be a real "
                         "directory")
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


def _ours(link: str) -> bool:
    """Whether `link` is absent or one of our `latest` links: a relative symlink pointing
    down into the store (`<run>` or `<test>/<run>`), never a user's file or directory."""
    if not os.path.lexists(link):
        return True
    if not os.path.islink(link):
        return False
    target = os.readlink(link)
    parts = target.split("/")
    return (not os.path.isabs(target) and 1 <= len(parts) <= 2
            and all(p not in ("", ".", "..") for p in parts) and RUN_DIR_RE.match(parts[-1]))


def _relink(link: str, target: str) -> None:
    if not _ours(link):
        log.warning("%s is not a link splitbrain made; left alone", link)
        return
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
