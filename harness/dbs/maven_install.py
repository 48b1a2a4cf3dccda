"""Resolving a Java artifact's runtime jars from Maven Central into a local cache: the
one procedure the Cassandra and Kafka installs share (harness/dbs/cassandra_install.py,
harness/dbs/kafka/install.py), each giving its coordinates, pom and cache checks.

Obligations: one install per version at a time (a file lock; a second caller waits, then
finds the cache); the cache entry `<root>/<version>/` appears whole or not at all (built
in a temporary dir, renamed into place, with `installed.json` listing its jars); a
missing Maven, a timeout or a failed resolution is an EnvironmentProblem naming it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Callable, TypeVar

from splitbrain.harness.errors import EnvironmentProblem

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
MVN_TIMEOUT_S = 1200
D = TypeVar("D")


def resolve_cached(*, root: str, version: str, name: str, coords: str, pom: str,
                   no_maven: str, installed: Callable[[], D | None],
                   dist_in: Callable[[str], D | None], check_java: Callable[[], object],
                   force: bool = False, log: Callable[[str], None] | None = None) -> D:
    """`installed()` unless `force`; else `coords:version` (`name` in messages) resolved
    with `pom` into `<root>/<version>/lib` and `installed()` again. `dist_in(lib)` says
    whether a lib dir holds the install; `no_maven` is the error when `mvn` is missing;
    `check_java()` raises if Maven's (and the store's) Java is not there."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, f".{version}.lock"), "a") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)  # a second run waits here, then finds the cache
        try:
            if not force:
                got = installed()
                if got is not None:
                    return got
            mvn = shutil.which("mvn")
            if mvn is None:
                raise EnvironmentProblem(no_maven)
            check_java()  # Maven runs on it too; fail with the clearer message first
            _resolve(mvn, root, version, name, coords, pom, dist_in, log)
            got = installed()
            assert got is not None
            return got
        finally:
            fcntl.flock(lf, fcntl.LOCK_UN)


def _resolve(mvn: str, root: str, version: str, name: str, coords: str, pom: str,
             dist_in: Callable[[str], object], log: Callable[[str], None] | None) -> None:
    tmp = tempfile.mkdtemp(prefix=f".{version}-", dir=root)
    try:
        with open(os.path.join(tmp, "pom.xml"), "w") as f:
            f.write(pom)
        if log:
            log(f"resolving {coords}:{version} from Maven Central into {root}/{version} …")
        t0 = time.monotonic()
        lib = os.path.join(tmp, "lib")
        argv = [mvn, "-B", "-q", f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={lib}", "-DincludeScope=runtime"]
        try:
            res = subprocess.run(argv, cwd=tmp, capture_output=True, text=True,
                                 timeout=MVN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise EnvironmentProblem(f"Maven did not finish resolving {name} {version} within "
                                     f"{MVN_TIMEOUT_S}s; is Maven Central reachable?") from None
        if res.returncode != 0 or dist_in(lib) is None:
            tail = (res.stdout + res.stderr).strip().splitlines()[-15:]
            raise EnvironmentProblem(f"Maven could not resolve {coords}:{version} "
                                     f"(exit {res.returncode}): " + " | ".join(tail))
        jars = sorted(os.listdir(lib))
        with open(os.path.join(tmp, "installed.json"), "w") as f:
            json.dump({"version": version, "jars": jars,
                       "seconds": round(time.monotonic() - t0, 1),
                       "installed_at": time.time()}, f, indent=1)
        final = os.path.join(root, version)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
        if log:
            log(f"installed {name} {version}: {len(jars)} jars in "
                f"{time.monotonic() - t0:.0f}s")
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
