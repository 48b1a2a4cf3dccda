"""A throwaway non-root user on this machine, for the ssh backend's password and sudo path.

    with ThrowawayUser() as u:          # needs root, useradd, chpasswd, visudo
        u.name, u.password, u.home, u.uid
        # sshd in a netns node shares /etc/passwd and /etc/shadow: it can log in as u.name

The user is `sbtssh<8 hex>` with its home under a fresh temp dir, a random password
(set with chpasswd) and a sudoers drop-in `/etc/sudoers.d/<name>` granting it sudo
*with* its password, except for NOPASSWD_COMMAND, and a global sudo ticket (checked
with `visudo -cf` before it is installed; the drop-in is
written under a name containing "." first, which sudo ignores, then renamed into place).
`remove()` (also on __exit__, also when the test failed) deletes the drop-in, waits for
the user's processes to end (sshd sessions close asynchronously) and SIGKILLs by pid the
ones left — every process with that uid is ours, the uid did not exist before — then
`userdel`s it and removes its home, its temp dir and sudo's per-user state
(/run/sudo/ts/<name>, /var/lib/sudo/lectured/<name>).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

SUDOERS_D = "/etc/sudoers.d"
SUDO_STATE = ("/run/sudo/ts", "/var/lib/sudo/lectured")
NOPASSWD_COMMAND = "/usr/bin/base64"


def tools_missing() -> list[str]:
    return [t for t in ("useradd", "userdel", "chpasswd", "visudo", "sudo")
            if shutil.which(t) is None]


def uid_pids(uid: int) -> list[int]:
    """Pids whose real uid is `uid` (from /proc/<pid>/status)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            out.append(int(pid))
                        break
        except (OSError, ValueError):
            pass
    return out


class ThrowawayUser:
    def __init__(self, prefix: str = "sbtssh"):
        assert prefix.startswith("sbt")
        self.name = f"{prefix}{secrets.token_hex(4)}"
        self.password = secrets.token_urlsafe(18)
        self.base: str | None = None
        self.home: str | None = None
        self.uid: int | None = None
        self.sudoers = os.path.join(SUDOERS_D, self.name)
        self._created = False
        self.leftovers: list[str] = []  # what remove() had to kill or could not remove

    def create(self) -> "ThrowawayUser":
        try:
            pwd.getpwnam(self.name)
            raise RuntimeError(f"user {self.name} already exists")
        except KeyError:
            pass
        self.base = tempfile.mkdtemp(prefix=f"{self.name}-")
        os.chmod(self.base, 0o755)  # the user must reach its home
        self.home = os.path.join(self.base, "home")
        self._created = True  # from here on remove() has something to undo
        subprocess.run(["useradd", "--no-create-home", "--home-dir", self.home, "--shell",
                        "/bin/sh", "--user-group", self.name], check=True, capture_output=True,
                       timeout=30)
        pw = pwd.getpwnam(self.name)
        self.uid = pw.pw_uid
        os.mkdir(self.home, 0o700)
        os.chown(self.home, pw.pw_uid, pw.pw_gid)
        subprocess.run(["chpasswd"], input=f"{self.name}:{self.password}\n", text=True,
                       check=True, capture_output=True, timeout=30)
        os.makedirs(SUDOERS_D, mode=0o755, exist_ok=True)
        staged = self.sudoers + ".sbtmp"  # contains ".": sudo's includedir skips it
        with open(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o440), "w") as f:
            # sudo with the password for everything; base64 without one (a rule like
            # `NOPASSWD: /usr/bin/apt-get` on a real host); one ticket for all ttys, so a
            # cached credential is visible to every later sudo of this user
            f.write(f"# splitbrain test user (tests/ssh/sshuser.py); removed after the tests\n"
                    f"Defaults:{self.name} timestamp_type=global\n"
                    f"{self.name} ALL=(ALL:ALL) ALL\n"
                    f"{self.name} ALL=(root) NOPASSWD: {NOPASSWD_COMMAND}\n")
        try:
            chk = subprocess.run(["visudo", "-cf", staged], capture_output=True, text=True,
                                 timeout=30)
            if chk.returncode != 0:
                raise RuntimeError(f"visudo rejected {staged}: {chk.stdout}{chk.stderr}")
            os.rename(staged, self.sudoers)
        finally:
            if os.path.exists(staged):
                os.unlink(staged)
        return self

    def remove(self) -> list[str]:
        """Undo create(); returns what could not be removed (empty when all went)."""
        problems = []
        if not self._created:
            return problems
        if os.path.lexists(self.sudoers):
            os.unlink(self.sudoers)
        if self.uid is not None:
            deadline = time.monotonic() + 3
            while uid_pids(self.uid) and time.monotonic() < deadline:
                time.sleep(0.05)
            for pid in uid_pids(self.uid):
                try:
                    os.kill(pid, signal.SIGKILL)
                    problems.append(f"had to kill pid {pid} of {self.name}")
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        try:
            pwd.getpwnam(self.name)
            r = subprocess.run(["userdel", "--force", self.name], capture_output=True,
                               text=True, timeout=30)
            if r.returncode != 0:
                problems.append(f"userdel {self.name}: {r.stderr.strip()}")
        except KeyError:
            pass
        for d in SUDO_STATE:
            p = os.path.join(d, self.name)
            if os.path.lexists(p):
                os.unlink(p)
        if self.base and os.path.basename(self.base).startswith("sbt"):
            shutil.rmtree(self.base, ignore_errors=True)
        self._created = False
        return problems

    def as_user(self, argv: list[str], stdin: str = "") -> subprocess.CompletedProcess:
        """Run argv locally as this user (its uid, gid and groups)."""
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}",
                               "--init-groups", *argv], input=stdin, capture_output=True,
                              text=True, timeout=30, cwd="/")

    def __enter__(self) -> "ThrowawayUser":
        try:
            return self.create()
        except BaseException:
            self.remove()
            raise

    def __exit__(self, *exc) -> None:
        self.leftovers = self.remove()
