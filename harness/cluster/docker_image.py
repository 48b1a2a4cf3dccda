"""The node image for the docker backend, built without any container registry.

    client = docker_client(None)
    res = build_image(client)                     # debootstrap + `docker import`, cached
    res.tag, res.method, res.seconds              # "splitbrain-node:3f9c…", "cached", 0.01
    build_image(client, with_java=True)           # + openjdk-17-jre-headless (Cassandra)
    build_image(client, dockerfile="./Dockerfile")  # when a registry (FROM …) is reachable
    require_tools(client, "redis:7", db="redis")  # EnvironmentProblem listing what is missing

Offline path (the default): `debootstrap --variant=minbase --include=<packages>` of Debian
bookworm from a Debian mirror (`--mirror`, default deb.debian.org; only the package mirror
must be reachable, never a container registry), apt caches removed, the root filesystem
tarred into the cache directory, then `docker import` with PATH/CMD/labels set. Cached by
content at two levels:
* the image tag is `splitbrain-node:<key>` where key = sha256 of the script version, the
  suite and the sorted package list (or the Dockerfile's bytes) — an image with that tag
  present on the engine is reused as is;
* the rootfs tarball `<cache>/rootfs-<key>.tar` stays after the import, so a lost image
  (or another engine, e.g. ssh://) is re-imported in seconds without a new debootstrap.
Concurrent builds of one key serialise on `<cache>/<key>.lock`.

debootstrap runs on the controller and needs root and the `debootstrap` package; the
tarball is then streamed to the engine, wherever it is. Any other image can be used with
`--image`, provided `require_tools` finds the commands the harness runs on nodes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from splitbrain.harness.cluster.base import NodeNeeds, needs_of
from splitbrain.harness.errors import EnvironmentProblem, InputError

# Bump when the build recipe changes in a way the package list does not show.
SCRIPT_VERSION = 1
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
REPOSITORY = "splitbrain-node"
LABEL = "splitbrain.image"
BASE_PACKAGES = ("redis-server", "redis-sentinel", "redis-tools", "iptables", "iproute2",
                 "libfaketime", "openssh-server", "python3", "procps", "coreutils",
                 "ca-certificates", "etcd-server")
JAVA_PACKAGES = ("openjdk-17-jre-headless",)
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEBOOTSTRAP_TIMEOUT = 1800

# What the harness runs on a node, by who needs it (harness/control/docker.py, the
# nemeses, the DBs). Checked as executables on PATH: a shell builtin is not enough,
# since `exec` runs argv without a shell.
BASE_TOOLS = ("sh", "timeout", "kill", "cat", "tail", "mkdir", "rm", "mv",
              "ip", "tc", "iptables", "iptables-restore")
_FIND_TOOLS = ('for t in "$@"; do found=; IFS=:; for d in $PATH; do '
               'if [ -f "$d/$t" ] && [ -x "$d/$t" ]; then found=1; break; fi; done; '
               'unset IFS; [ -n "$found" ] || echo "$t"; done; echo sb-tools-checked')


@dataclass(frozen=True)
class BuildResult:
    """tag: the image to run; method: how it came to be ("cached", "tarball" = re-imported
    from the cached rootfs, "debootstrap", "dockerfile"); seconds: wall time of the call."""

    tag: str
    method: str
    seconds: float
    packages: tuple[str, ...] = ()


def packages(with_java: bool = False, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The sorted, de-duplicated package list of the node image."""
    pk = set(BASE_PACKAGES) | set(extra)
    if with_java:
        pk |= set(JAVA_PACKAGES)
    for p in pk:
        if not p or not all(c.isalnum() or c in "+-.:" for c in p):
            raise InputError(f"--package {p!r} is not a Debian package name")
    return tuple(sorted(pk))


def image_key(pkgs: Iterable[str], *, dockerfile_bytes: bytes | None = None) -> str:
    h = hashlib.sha256(f"v{SCRIPT_VERSION}\n{SUITE}\n".encode())
    h.update("\n".join(sorted(pkgs)).encode())
    if dockerfile_bytes is not None:
        h.update(b"\ndockerfile\n" + dockerfile_bytes)
    return h.hexdigest()[:16]


def image_tag(pkgs: Iterable[str], *, dockerfile_bytes: bytes | None = None) -> str:
    return f"{REPOSITORY}:{image_key(pkgs, dockerfile_bytes=dockerfile_bytes)}"


def default_image(db: "str | NodeNeeds" = "redis") -> str:
    """The tag the docker backend uses when no --image is given: the base packages plus
    whatever the datastore needs (harness/cluster/base.py NodeNeeds)."""
    return image_tag(packages(extra=needs_of(db).packages))


def cache_dir() -> str:
    """$SPLITBRAIN_IMAGE_CACHE, else /var/cache/splitbrain/images as root, else
    ~/.cache/splitbrain/images."""
    if os.environ.get("SPLITBRAIN_IMAGE_CACHE"):
        return os.environ["SPLITBRAIN_IMAGE_CACHE"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/cache/splitbrain/images"
    return os.path.join(os.path.expanduser("~"), ".cache", "splitbrain", "images")


def dockerfile_text(pkgs: Iterable[str]) -> str:
    """A Dockerfile equivalent to the offline build, for machines that can pull images."""
    return (f"FROM debian:{SUITE}-slim\n"
            "RUN apt-get update \\\n"
            " && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n"
            f"      {' '.join(sorted(pkgs))} \\\n"
            " && rm -rf /var/lib/apt/lists/*\n"
            'CMD ["sleep", "infinity"]\n')


def image_present(client: Any, tag: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
        return True
    except ImageNotFound:
        return False


def build_image(client: Any, *, with_java: bool = False, extra_packages: Iterable[str] = (),
                dockerfile: str | None = None, mirror: str = DEFAULT_MIRROR,
                cache: str | None = None, force: bool = False,
                log: Callable[[str], None] = lambda s: None) -> BuildResult:
    """Make sure the node image exists on `client`'s engine; build it if needed.

    `force` rebuilds from scratch (new debootstrap / `docker build --no-cache`).
    Raises EnvironmentProblem when a build is needed and impossible here (no root, no
    debootstrap, mirror unreachable, Dockerfile build failing)."""
    t0 = time.monotonic()
    pkgs = packages(with_java, extra_packages)
    cache = cache or cache_dir()
    df_bytes = None
    if dockerfile is not None:
        try:
            with open(dockerfile, "rb") as f:
                df_bytes = f.read()
        except OSError as e:
            raise InputError(f"--dockerfile {dockerfile}: cannot read: {e.strerror or e}") from None
    key = image_key(pkgs, dockerfile_bytes=df_bytes)
    tag = f"{REPOSITORY}:{key}"
    os.makedirs(cache, exist_ok=True)
    with _locked(os.path.join(cache, f"{key}.lock")):
        if not force and image_present(client, tag):
            return BuildResult(tag, "cached", time.monotonic() - t0, pkgs)
        if dockerfile is not None:
            _docker_build(client, dockerfile, tag, pkgs, force, log)
            return BuildResult(tag, "dockerfile", time.monotonic() - t0, pkgs)
        tarball = os.path.join(cache, f"rootfs-{key}.tar")
        method = "tarball"
        if force or not os.path.exists(tarball):
            _debootstrap_tarball(tarball, pkgs, mirror, log)
            method = "debootstrap"
        log(f"importing {tarball} as {tag}")
        _import(client, tarball, tag, key, pkgs)
        return BuildResult(tag, method, time.monotonic() - t0, pkgs)


def list_images(client: Any) -> list[dict]:
    """splitbrain node images on the engine: [{tag, id, size_mb, created, packages}]."""
    out = []
    for img in client.images.list(filters={"label": LABEL}):
        labels = (img.attrs.get("Config") or {}).get("Labels") or {}
        for tag in img.tags or ["<untagged>"]:
            out.append({"tag": tag, "id": img.short_id,
                        "size_mb": round((img.attrs.get("Size") or 0) / 1e6, 1),
                        "created": img.attrs.get("Created", ""),
                        "packages": labels.get("splitbrain.packages", "")})
    return out


# -- checking an arbitrary image ---------------------------------------------------------

def tools_for(db: "str | NodeNeeds | None") -> tuple[str, ...]:
    return BASE_TOOLS + needs_of(db).commands


def missing_tools(client: Any, image: str, tools: Iterable[str]) -> list[str]:
    """Commands of `tools` not found as executables on PATH inside `image` (checked in a
    throwaway container with no network, removed afterwards)."""
    from docker.errors import ContainerError, ImageNotFound, APIError

    tools = list(tools)
    if not image_present(client, image):  # containers.run would try to pull it
        raise EnvironmentProblem(
            f"image {image!r} is not on the Docker engine; splitbrain never pulls: "
            f"`docker pull {image}` first, or omit --image to build splitbrain's own")
    try:
        out = client.containers.run(image, ["-c", _FIND_TOOLS, "sh", *tools],
                                    entrypoint=["sh"], remove=True, network_mode="none",
                                    labels={"splitbrain.check": "tools"}, stdout=True,
                                    stderr=False)
    except ImageNotFound:
        raise EnvironmentProblem(
            f"image {image!r} is not on the Docker engine; splitbrain never pulls: "
            f"`docker pull {image}` first, or omit --image to build splitbrain's own") from None
    except ContainerError as e:
        raise EnvironmentProblem(f"image {image!r} cannot run `sh` "
                                 f"({str(e).strip()[:200]}); it needs a POSIX shell") from None
    except APIError as e:
        raise EnvironmentProblem(f"image {image!r} cannot be started: {e.explanation or e}") from None
    lines = out.decode("utf-8", "replace").split()
    if "sb-tools-checked" not in lines:
        raise EnvironmentProblem(f"image {image!r}: the tool check did not run (`sh` missing?)")
    return [t for t in lines if t != "sb-tools-checked"]


def require_tools(client: Any, image: str, db: "str | NodeNeeds | None" = "redis") -> None:
    """EnvironmentProblem (exit 254) naming every missing command, unless `image` has all."""
    missing = missing_tools(client, image, tools_for(db))
    if missing:
        pkgs = " ".join(("coreutils", "procps", "iproute2", "iptables", *needs_of(db).packages))
        raise EnvironmentProblem(
            f"image {image!r} lacks what splitbrain runs on nodes: {', '.join(missing)}. "
            f"Debian packages: {pkgs}; or omit --image to use "
            "`splitbrain image build`'s image")


# -- the offline build -------------------------------------------------------------------

def _debootstrap_tarball(tarball: str, pkgs: tuple[str, ...], mirror: str,
                         log: Callable[[str], None]) -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem("building the node image with debootstrap needs root; run "
                                 "`sudo splitbrain image build`, or use --image / --dockerfile")
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem("building the node image needs debootstrap (Debian: apt-get "
                                 "install debootstrap), or use --image / --dockerfile")
    work = tempfile.mkdtemp(prefix="sb-rootfs-", dir=os.path.dirname(tarball))
    rootfs = os.path.join(work, "rootfs")
    try:
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(pkgs)}",
                SUITE, rootfs, mirror]
        log(f"debootstrap {SUITE} from {mirror} with {len(pkgs)} packages (a minute or two)")
        res = subprocess.run(argv, capture_output=True, text=True, timeout=DEBOOTSTRAP_TIMEOUT,
                             env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if res.returncode != 0:
            detail = _debootstrap_log_tail(rootfs) or (res.stderr or res.stdout)[-800:]
            raise EnvironmentProblem(f"debootstrap failed (exit {res.returncode}): "
                                     f"{detail.strip()[-800:]}")
        _slim(rootfs)
        tmp = tarball + ".part"
        log(f"packing the root filesystem into {tarball}")
        res = subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", rootfs, "-cf", tmp,
                              "."], capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            raise EnvironmentProblem(f"tar of the root filesystem failed: {res.stderr[-400:]}")
        os.replace(tmp, tarball)
    finally:
        _remove_rootfs(work)


def _slim(rootfs: str) -> None:
    """Drop what only a package manager needs: .debs and package lists (~100 MB)."""
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        d = os.path.join(rootfs, sub)
        for name in os.listdir(d) if os.path.isdir(d) else []:
            p = os.path.join(d, name)
            if os.path.isfile(p) and not os.path.islink(p) and name != "lock":
                os.unlink(p)
    # Containers get their hostname and resolv.conf from the engine.
    for name in ("etc/hostname",):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(rootfs, name))


def _remove_rootfs(work: str) -> None:
    # A failed debootstrap can leave /proc, /sys (or more) mounted inside the target:
    # unmount anything below it before deleting, and never cross into another fs.
    real = os.path.realpath(work)
    try:
        with open("/proc/mounts") as f:
            points = [line.split()[1] for line in f]
    except OSError:
        points = []
    for mp in sorted((p for p in points if p.startswith(real + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True, timeout=30)
    subprocess.run(["rm", "-rf", "--one-file-system", real], capture_output=True, timeout=300)


def _debootstrap_log_tail(rootfs: str) -> str:
    try:
        with open(os.path.join(rootfs, "debootstrap", "debootstrap.log"), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 800))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _import(client: Any, tarball: str, tag: str, key: str, pkgs: tuple[str, ...]) -> None:
    repo, _, version = tag.partition(":")
    changes = [f"ENV PATH={PATH}",
               'CMD ["sleep", "infinity"]',
               f"LABEL {LABEL}={key}",
               f"LABEL splitbrain.packages={','.join(pkgs)}"]
    try:
        client.api.import_image(src=tarball, repository=repo, tag=version, changes=changes)
    except Exception as e:
        raise EnvironmentProblem(f"`docker import` of {tarball} failed: {e}") from None
    if not image_present(client, tag):
        raise EnvironmentProblem(f"`docker import` of {tarball} did not produce {tag}")


def _docker_build(client: Any, dockerfile: str, tag: str, pkgs: tuple[str, ...], force: bool,
                  log: Callable[[str], None]) -> None:
    from docker.errors import APIError, BuildError

    path = os.path.dirname(os.path.abspath(dockerfile))
    log(f"docker build -f {dockerfile} {path}")
    try:
        client.images.build(path=path, dockerfile=os.path.basename(dockerfile), tag=tag,
                            buildargs={"PACKAGES": " ".join(pkgs)}, nocache=force, rm=True,
                            labels={LABEL: tag.partition(":")[2],
                                    "splitbrain.packages": ",".join(pkgs)})
    except BuildError as e:
        tail = " | ".join(str(c.get("stream") or c.get("error") or "").strip()
                          for c in list(e.build_log)[-5:])
        raise EnvironmentProblem(f"docker build of {dockerfile} failed: {e.msg}: {tail}") from None
    except APIError as e:
        raise EnvironmentProblem(f"docker build of {dockerfile} failed: {e.explanation or e}") from None


@contextlib.contextmanager
def _locked(path: str):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
