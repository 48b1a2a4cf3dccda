"""Getting Cassandra's jars: from Maven Central into a cache, or from an unpacked tarball.

No tarball or image can be downloaded here, but Maven Central can (design/cassandra.md §1):
a throw-away pom naming `org.apache.cassandra:cassandra-all:<version>` and
`mvn dependency:copy-dependencies` give the server's runtime classpath (~100 jars, ~70 MB).
They land in `<cache_root()>/<version>/lib`, so every later run starts offline.

    dist = ensure_installed("5.0.8")          # resolves once, then reads the cache
    dist.classpath                           # "…/lib/*"
    dist.jamm_jar                            # the -javaagent Cassandra 5.0 needs
    dist = from_home("/opt/apache-cassandra-5.0.8")   # an official tarball instead
    java = find_java()                       # a Java 17 binary, or EnvironmentProblem

Obligations: an install is all-or-nothing (built in a temporary directory, renamed into
place under a lock, so concurrent runs never see half a lib dir and never resolve twice);
errors name what is missing and how to get it (EnvironmentProblem / InputError).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable

from splitbrain.harness.dbs.maven_install import resolve_cached
from splitbrain.harness.errors import EnvironmentProblem, InputError

DEFAULT_VERSION = "5.0.8"
# 5.0 is the first line that supports Java 17 (design/cassandra.md §1); 4.1 crashes on it.
VERSION_RE = re.compile(r"^5\.0\.\d{1,3}$")
JAVA_MAJOR = 17

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>splitbrain</groupId>
  <artifactId>cassandra-runtime</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


@dataclass(frozen=True)
class CassandraDist:
    """A usable Cassandra: where its jars are and what it is."""

    version: str
    lib_dir: str
    jamm_jar: str
    source: str  # "maven" (our cache) or "home" (a tarball the user pointed at)
    conf_dir: str | None = None  # a tarball's conf/ (unused: we write our own config)

    @property
    def classpath(self) -> str:
        return os.path.join(self.lib_dir, "*")


def cache_root() -> str:
    """`$SPLITBRAIN_CACHE/cassandra`, else /var/lib/splitbrain/cassandra as root, else
    ~/.cache/splitbrain/cassandra (the clock shim's cache uses the same roots)."""
    base = os.environ.get("SPLITBRAIN_CACHE")
    if not base:
        base = ("/var/lib/splitbrain" if os.geteuid() == 0
                else os.path.join(os.path.expanduser("~"), ".cache", "splitbrain"))
    return os.path.join(base, "cassandra")


def validate_version(version: str | None) -> str:
    v = version or DEFAULT_VERSION
    if not isinstance(v, str) or not VERSION_RE.match(v):
        raise InputError(f"Cassandra version {v!r}: only 5.0.x is supported (e.g. "
                         f"{DEFAULT_VERSION}); older lines do not run on Java 17")
    return v


def _dist_in(lib_dir: str, version: str, source: str, conf_dir: str | None = None
             ) -> CassandraDist | None:
    if not glob.glob(os.path.join(lib_dir, "cassandra-all-*.jar")) and \
            not glob.glob(os.path.join(lib_dir, "apache-cassandra-*.jar")):
        return None
    jamm = sorted(glob.glob(os.path.join(lib_dir, "jamm-*.jar")))
    if not jamm:
        return None
    return CassandraDist(version=version, lib_dir=lib_dir, jamm_jar=jamm[-1], source=source,
                         conf_dir=conf_dir)


def installed(version: str | None = None) -> CassandraDist | None:
    """The cached install of `version`, or None."""
    version = validate_version(version)
    d = os.path.join(cache_root(), version)
    if not os.path.exists(os.path.join(d, "installed.json")):
        return None
    return _dist_in(os.path.join(d, "lib"), version, "maven")


def from_home(home: str) -> CassandraDist:
    """An unpacked official tarball (`bin/`, `conf/`, `lib/`)."""
    home = os.path.abspath(home)
    lib = os.path.join(home, "lib")
    if not os.path.isdir(lib):
        raise InputError(f"--cassandra-home {home}: no lib/ directory; point it at an "
                         "unpacked apache-cassandra-5.0.x tarball")
    jars = glob.glob(os.path.join(lib, "apache-cassandra-*.jar")) + \
        glob.glob(os.path.join(lib, "cassandra-all-*.jar"))
    version = "unknown"
    for j in jars:
        m = re.search(r"(\d+\.\d+\.\d+)\.jar$", j)
        if m:
            version = m.group(1)
    dist = _dist_in(lib, version, "home", os.path.join(home, "conf"))
    if dist is None:
        raise InputError(f"--cassandra-home {home}: lib/ holds no Cassandra server jar and "
                         "jamm jar; is this an apache-cassandra 5.0.x tarball?")
    if not version.startswith("5.0."):
        raise InputError(f"--cassandra-home {home}: Cassandra {version}; only 5.0.x runs on "
                         "Java 17")
    return dist


def install(version: str | None = None, *, force: bool = False,
            log: Callable[[str], None] | None = None) -> CassandraDist:
    """Resolve `cassandra-all:<version>` and its runtime dependencies with Maven into the
    cache. Idempotent (a cached install is returned at once unless `force`)."""
    version = validate_version(version)
    return resolve_cached(
        root=cache_root(), version=version, name="Cassandra",
        coords="org.apache.cassandra:cassandra-all", pom=POM.format(version=version),
        no_maven="installing Cassandra needs Maven (`mvn`) to fetch the jars from Maven "
                 "Central; Debian: apt-get install maven (or pass --cassandra-home with an "
                 "unpacked apache-cassandra-5.0.x tarball)",
        installed=lambda: installed(version),
        dist_in=lambda lib: _dist_in(lib, version, "maven"), check_java=find_java,
        force=force, log=log)


def ensure_installed(version: str | None = None, home: str | None = None,
                     log: Callable[[str], None] | None = None) -> CassandraDist:
    """`home`'s jars if given, else the cached install of `version` (installed on first use)."""
    if home:
        return from_home(home)
    return installed(version) or install(version, log=log)


def java_major(java: str) -> int | None:
    try:
        res = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', res.stderr + res.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def find_java() -> str:
    """A Java 17 binary: $SPLITBRAIN_JAVA, $JAVA_HOME/bin/java, `java` on PATH, or Debian's
    openjdk-17 path. Cassandra 5.0 runs on 11 and 17 only, and our JVM flags are 17's."""
    candidates = [os.environ.get("SPLITBRAIN_JAVA"),
                  os.path.join(os.environ["JAVA_HOME"], "bin", "java")
                  if os.environ.get("JAVA_HOME") else None,
                  shutil.which("java"),
                  "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
                  "/usr/lib/jvm/java-17-openjdk-arm64/bin/java"]
    seen = []
    for c in candidates:
        if not c or c in seen or not os.path.exists(c):
            continue
        seen.append(c)
        major = java_major(c)
        if major == JAVA_MAJOR:
            return c
    if not seen:
        raise EnvironmentProblem("Cassandra needs Java 17 and no `java` was found; Debian: "
                                 "apt-get install openjdk-17-jre-headless")
    raise EnvironmentProblem(f"Cassandra 5.0 here needs Java 17; found {', '.join(seen)} "
                             "of another version. Install openjdk-17-jre-headless or set "
                             "SPLITBRAIN_JAVA to a Java 17 binary")
