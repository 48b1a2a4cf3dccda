"""Small native helpers (C sources beside the nemesis modules), compiled on first use.

The pattern of nemesis/clock.py's shim, for programs: `build_program("sbnfq.c")` compiles
once per source+flags version into the cache dir and returns the binary's path; an edited
source is rebuilt, a cached one reused across runs; the binary is written under a
temporary name and renamed, so concurrent runs never execute a half-written file.

    path = build_program("sbnfq.c", libs=("-lm",), static=True)
    remote_path = install_on(node, path)    # the same path on netns nodes; uploaded elsewhere
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from typing import Sequence

from splitbrain.harness.errors import EnvironmentProblem
from splitbrain.nemesis.clock import cache_dir

HERE = os.path.dirname(os.path.abspath(__file__))


def build_program(source: str, *, cflags: Sequence[str] = ("-O2", "-Wall"),
                  libs: Sequence[str] = (), static: bool = False,
                  directory: str | None = None) -> str:
    """Compile nemesis/<source> (cached); return the executable's path.

    static=True tries a static link first (the binary can then be copied to nodes that
    lack the libraries) and falls back to a dynamic one when libc.a is missing."""
    src_path = os.path.join(HERE, source)
    with open(src_path, "rb") as f:
        src = f.read()
    flags = [*cflags, *(["-static"] if static else [])]
    key = hashlib.sha256(src + " ".join(flags + list(libs)).encode()).hexdigest()[:16]
    directory = directory or cache_dir()
    stem = os.path.splitext(os.path.basename(source))[0]
    path = os.path.join(directory, f"{stem}-{key}")
    if os.path.exists(path):
        return path
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise EnvironmentProblem(f"building {source} needs a C compiler (gcc); install gcc "
                                 "(Debian: apt-get install gcc libc6-dev)")
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}-", dir=directory)
    os.close(fd)
    try:
        attempts = [flags] + ([list(cflags)] if static else [])
        err = ""
        for fl in attempts:
            res = subprocess.run([gcc, *fl, "-o", tmp, src_path, *libs], capture_output=True,
                                 text=True, timeout=180)
            if res.returncode == 0:
                break
            err = res.stderr[-800:]
        else:
            raise EnvironmentProblem(f"building {source} failed: {err}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def install_on(node, path: str) -> str:
    """Where `path` can be executed on `node`: itself when the node shares the
    controller's filesystem (netns), else a copy uploaded into the node's workdir."""
    if hasattr(node.remote, "netns"):
        return path
    dest = os.path.join(node.workdir, os.path.basename(path))
    node.remote.upload(path, dest)
    node.remote.exec(["chmod", "755", dest], timeout=10, check=False)
    return dest
