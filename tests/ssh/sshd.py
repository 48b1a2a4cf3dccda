"""Real sshd daemons inside netns nodes, for testing the ssh backend end to end.

    with NetnsCluster(prefix, nodes=3) as nodes, SshdFarm(nodes, tmp_dir) as farm:
        farm.client_key           # private key file accepted as root on every node
        farm.known_hosts          # known_hosts with every node's real host key
        farm.write_known_hosts(path, wrong=["n1"])   # n1 listed with another key

Each node gets its own host key and an sshd started with `-D -e -f <our config>`
through `NetnsRemote.spawn` (so the pid is recorded in the netns run's registry and
the netns cluster's cleanup stops it). The system's sshd and its config are never
touched; the only system change is creating /run/sshd (sshd's compiled-in privilege
separation directory) when it is missing, as Debian's service would.

`password_auth=True` turns on `PasswordAuthentication` (for tests/ssh/sshuser.py's
throwaway user). `UsePAM no` stays: sshd then checks the password against /etc/shadow
itself, which the client sees exactly as a stock Debian sshd (same "password" method).
`UsePAM yes` also worked here, but it adds Debian's PAM session stack to every login
(pam_loginuid, which fails in containers without CAP_AUDIT_CONTROL; pam_motd, which
rewrites /run/motd.dynamic) — nothing the ssh backend depends on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

SSHD = "/usr/sbin/sshd"


def keygen(path: str, kind: str = "ed25519") -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "sbtest", "-f", path],
                   check=True, capture_output=True, timeout=30)
    return path


def public_line(path: str) -> str:
    with open(path + ".pub") as f:
        kind, b64 = f.read().split()[:2]
    return f"{kind} {b64}"


class SshdFarm:
    def __init__(self, nodes, tmp_dir: str, *, password_auth: bool = False):
        self.nodes = list(nodes)
        self.dir = str(tmp_dir)
        self.password_auth = password_auth
        self.client_key = keygen(os.path.join(self.dir, "client_key"))
        self.authorized = os.path.join(self.dir, "authorized_keys")
        with open(self.authorized, "w") as f:
            f.write(public_line(self.client_key) + "\n")
        self.host_keys = {n.name: keygen(os.path.join(self.dir, f"host_{n.name}"))
                          for n in self.nodes}
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        self.write_known_hosts(self.known_hosts)
        self.daemons = {}

    def write_known_hosts(self, path: str, wrong: tuple[str, ...] = (),
                          omit: tuple[str, ...] = ()) -> str:
        lines = []
        for n in self.nodes:
            if n.name in omit:
                continue
            key = self.host_keys[n.name]
            if n.name in wrong:
                key = keygen(os.path.join(self.dir, f"other_{n.name}_{len(os.listdir(self.dir))}"))
            lines.append(f"{n.address} {public_line(key)}")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self) -> "SshdFarm":
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        for n in self.nodes:
            conf = os.path.join(self.dir, f"sshd_{n.name}.conf")
            with open(conf, "w") as f:
                f.write("\n".join([
                    f"ListenAddress {n.address}:22",
                    f"HostKey {self.host_keys[n.name]}",
                    "PidFile none",
                    "PermitRootLogin yes",
                    f"AuthorizedKeysFile {self.authorized}",
                    "StrictModes no",  # the temp dir lives under world-writable /tmp
                    "UsePAM no",
                    f"PasswordAuthentication {'yes' if self.password_auth else 'no'}",
                    "KbdInteractiveAuthentication no",
                    "PrintMotd no",
                    "Subsystem sftp internal-sftp",
                    "MaxSessions 20",
                    "LogLevel ERROR",
                ]) + "\n")
            self.daemons[n.name] = n.remote.spawn(
                [SSHD, "-D", "-e", "-f", conf], log_path=os.path.join(self.dir, f"sshd_{n.name}.log"))
        for n in self.nodes:
            _wait_port(n.address, 22, 10.0)
        return self

    def stop(self) -> None:
        for name, d in self.daemons.items():
            node = next(n for n in self.nodes if n.name == name)
            node.remote.exec(["kill", str(d.pid)], check=False, timeout=5)
        self.daemons.clear()

    def __enter__(self) -> "SshdFarm":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
