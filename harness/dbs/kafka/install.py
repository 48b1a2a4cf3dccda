"""Getting Kafka's jars from Maven Central into a cache (no tarball needed).

A throw-away pom naming `org.apache.kafka:kafka_2.13:<version>` plus the SLF4J→log4j2
binding (the published POM brings log4j but no binding, so without it the broker would
log nothing), resolved with `mvn dependency:copy-dependencies`: ~45 jars, ~43 MB, into
`<cache_root()>/<version>/lib`. Later runs start offline (design/queues.md §(c)).

    dist = ensure_installed("4.4.0")     # resolves once, then reads the cache
    dist.classpath                       # "…/lib/*"

Obligations: all-or-nothing installs (a temporary dir renamed into place under a lock);
errors name what is missing and how to get it (EnvironmentProblem / InputError).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass
from typing import Callable

from splitbrain.harness.dbs.cassandra_install import find_java as _find_java17
from splitbrain.harness.dbs.maven_install import resolve_cached
from splitbrain.harness.errors import EnvironmentProblem, InputError

DEFAULT_VERSION = "4.4.0"
VERSION_RE = re.compile(r"^4\.\d{1,2}\.\d{1,3}$")  # 4.x: KRaft only, Java 17 is fine
LOG4J_BINDING = "2.25.5"

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>splitbrain</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

__all__ = ["KafkaDist", "cache_root", "ensure_installed", "find_java", "host_dirs", "install",
           "installed", "java_dirs", "validate_version"]


def find_java() -> str:
    """This machine's Java 17 (the one finder every JVM store uses), with Kafka named in
    the error."""
    try:
        return _find_java17()
    except EnvironmentProblem as e:
        raise EnvironmentProblem(f"Kafka 4.x runs on Java 17 here: {e}") from None


@dataclass(frozen=True)
class KafkaDist:
    version: str
    lib_dir: str

    @property
    def classpath(self) -> str:
        return os.path.join(self.lib_dir, "*")

    @property
    def root(self) -> str:
        """The version's directory (lib/ and installed.json)."""
        return os.path.dirname(self.lib_dir)

    def jars(self) -> list[str]:
        return sorted(f for f in os.listdir(self.lib_dir) if f.endswith(".jar"))

    def fingerprint(self) -> str:
        """16 hex digits of the jars' names and contents: the name under which an ssh host
        caches its copy, so a changed install is never mistaken for the old one."""
        h = hashlib.sha256(self.version.encode())
        for name in self.jars():
            h.update(b"\0" + name.encode() + b"\0")
            with open(os.path.join(self.lib_dir, name), "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()[:16]


def java_dirs(java: str) -> list[str]:
    """The directories a JVM runs from: its home (bin/java's grandparent) and the targets
    of its absolute symlinks (Debian keeps jvm.cfg and the security files in
    /etc/java-17-openjdk), each once, with no dir inside another."""
    home = os.path.dirname(os.path.dirname(os.path.realpath(java)))
    dirs = {home}
    for d, subdirs, files in os.walk(home):
        for name in subdirs + files:
            link = os.path.join(d, name)
            if os.path.islink(link) and os.path.isabs(os.readlink(link)):
                target = os.path.realpath(link)
                if os.path.exists(target) and not target.startswith(home + "/"):
                    dirs.add(os.path.dirname(target) if not os.path.isdir(target) else target)
    keep = sorted(dirs, key=len)
    out: list[str] = []
    for x in keep:
        if not any(x == o or x.startswith(o + "/") for o in out):
            out.append(x)
    return sorted(out)


def host_dirs(version: str | None = None) -> list[str]:
    """What a docker node bind-mounts to run Kafka (NodeNeeds.host_dirs): the cached
    install (resolved from Maven Central first if missing) and this machine's Java 17."""
    dist = ensure_installed(version)
    return [dist.root, *java_dirs(find_java())]

def cache_root() -> str:
    """`$SPLITBRAIN_CACHE/kafka`, else /var/lib/splitbrain/kafka as root, else
    ~/.cache/splitbrain/kafka (the same roots as Cassandra's cache)."""
    base = os.environ.get("SPLITBRAIN_CACHE")
    if not base:
        base = ("/var/lib/splitbrain" if os.geteuid() == 0
                else os.path.join(os.path.expanduser("~"), ".cache", "splitbrain"))
    return os.path.join(base, "kafka")


def validate_version(version: str | None) -> str:
    v = version or DEFAULT_VERSION
    if not isinstance(v, str) or not VERSION_RE.match(v):
        raise InputError(f"Kafka version {v!r}: only 4.x (KRaft) is supported, e.g. {DEFAULT_VERSION}")
    return v


def _dist_in(lib_dir: str, version: str) -> KafkaDist | None:
    if not glob.glob(os.path.join(lib_dir, "kafka_2.13-*.jar")):
        return None
    return KafkaDist(version=version, lib_dir=lib_dir)


def installed(version: str | None = None) -> KafkaDist | None:
    version = validate_version(version)
    d = os.path.join(cache_root(), version)
    if not os.path.exists(os.path.join(d, "installed.json")):
        return None
    return _dist_in(os.path.join(d, "lib"), version)


def install(version: str | None = None, *, force: bool = False,
            log: Callable[[str], None] | None = None) -> KafkaDist:
    """Resolve kafka_2.13:<version> and its runtime closure into the cache (idempotent)."""
    version = validate_version(version)
    return resolve_cached(
        root=cache_root(), version=version, name="Kafka", coords="org.apache.kafka:kafka_2.13",
        pom=POM.format(version=version, log4j=LOG4J_BINDING),
        no_maven="installing Kafka needs Maven (`mvn`) to fetch the jars from Maven Central; "
                 "Debian: apt-get install maven (bash scripts/setup.sh --kafka)",
        installed=lambda: installed(version), dist_in=lambda lib: _dist_in(lib, version),
        check_java=find_java, force=force, log=log)


def ensure_installed(version: str | None = None,
                     log: Callable[[str], None] | None = None) -> KafkaDist:
    return installed(version) or install(version, log=log)
