"""Real OpenSSH servers ("boxes") for the ssh tests and benchmarks, and a client that knows them.

Each box is its own `sshd -D` with its own host key, authorized_keys, pid file, log, free
port and remote work folder, all under a temporary folder. The client side (a key, a
known_hosts file and an OpenSSH config with one `Host` alias per box) lives there too;
the machine's ~/.ssh is never read or written. A box can also live in its own network
namespace, reached through a veth pair, so a test can take its link down.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from tests.helpers import free_port, wait_for

SSHD = "/usr/sbin/sshd"
# What a box without extra software has on PATH (sh and coreutils, plus setsid).
MINIMAL_TOOLS = ("sh", "cat", "mkdir", "mv", "rm", "ln", "cp", "chmod", "head", "tail", "wc",
                 "df", "sleep", "stat", "date", "env", "setsid", "ls", "echo", "true", "seq",
                 "sha256sum")


def available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f",
                    str(path)], check=True, capture_output=True)


def _answers(address: str, port: int) -> bool:
    """Whether an SSH server greets us on that port."""
    try:
        with socket.create_connection((address, port), timeout=1) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _children(parent: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != b"Z":
            out.append(int(name))
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class Client:
    """The local side: a key pair, a known_hosts file and an ssh config naming each box."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.key = root / "id_ed25519"
        _keygen(self.key)
        self.known_hosts = root / "known_hosts"
        self.known_hosts.write_text("")
        self.config = root / "ssh_config"
        self.config.write_text("")

    @property
    def public_key(self) -> str:
        return self.key.with_suffix(".pub").read_text()

    def trust(self, box: "SshBox") -> None:
        with open(self.known_hosts, "a") as handle:
            handle.write(box.known_hosts_line())

    def add_alias(self, alias: str, box: "SshBox", extra: str = "") -> None:
        with open(self.config, "a") as handle:
            handle.write(f"Host {alias}\n  HostName {box.address}\n  Port {box.port}\n"
                         f"  User root\n  IdentityFile {self.key}\n  IdentitiesOnly yes\n"
                         f"  UserKnownHostsFile {self.known_hosts}\n{extra}\n")

    def ssh(self, alias: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """OpenSSH's own client with this config (for checks from the test's side)."""
        return subprocess.run(["ssh", "-F", str(self.config), "-o", "BatchMode=yes", alias,
                               command], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


class SshBox:
    """One sshd; `work` is the folder runyard should use on it."""

    def __init__(self, root: Path, name: str, authorized: str, path_env: str | None = None,
                 address: str = "127.0.0.1", netns: str | None = None,
                 set_env: dict[str, str] | None = None):
        self.root = root / name
        self.root.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.address = address
        self.netns = netns
        self.work = self.root / "work"
        self.host_key = self.root / "host_key"
        _keygen(self.host_key)
        (self.root / "authorized_keys").write_text(authorized)
        self.path_env = path_env
        self.set_env = dict(set_env or {})        # more variables for every session
        self.log = self.root / "sshd.log"
        self.port = free_port(address) if netns is None else 22
        self.process: subprocess.Popen | None = None

    def known_hosts_line(self) -> str:
        key = self.host_key.with_suffix(".pub").read_text().split()
        host = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{host} {key[0]} {key[1]}\n"

    def _config(self) -> Path:
        lines = [f"Port {self.port}", f"ListenAddress {self.address}",
                 f"HostKey {self.host_key}",
                 f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
                 f"PidFile {self.root / 'sshd.pid'}", "PermitRootLogin prohibit-password",
                 "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
                 "StrictModes no", "LogLevel VERBOSE", "ClientAliveInterval 0"]
        variables = {**({"PATH": self.path_env} if self.path_env else {}), **self.set_env}
        if variables:
            lines.append("SetEnv " + " ".join(f"{k}={v}" for k, v in variables.items()))
        path = self.root / "sshd_config"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> "SshBox":
        Path("/run/sshd").mkdir(exist_ok=True)
        for _attempt in range(3):
            command = [SSHD, "-D", "-f", str(self._config()), "-E", str(self.log)]
            if self.netns:
                command = ["ip", "netns", "exec", self.netns, *command]
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
            try:
                wait_for(lambda: _answers(self.address, self.port), timeout=10,
                         what=f"sshd on {self.address}:{self.port} to answer")
                return self
            except AssertionError:
                self.stop()
                if self.netns is None:
                    self.port = free_port(self.address)      # someone took the port
        raise RuntimeError(f"sshd for {self.name} did not start; see {self.log}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def listener(self) -> int:
        """The listening sshd (under `ip netns exec` it is the same process, exec'd)."""
        return self.process.pid

    def connections(self) -> list[int]:
        """One sshd child per client connection."""
        return [p for p in _children(self.listener()) if _comm(p) == "sshd"]

    def cut_connections(self) -> int:
        """Kill the sshd processes of every connection (not what the sessions started)."""
        victims = []
        todo = self.connections()
        while todo:
            pid = todo.pop()
            victims.append(pid)
            todo.extend(p for p in _children(pid) if _comm(p) == "sshd")
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        return len(victims)

    def stop(self) -> None:
        """sshd goes away: first it stops accepting, then its connections die, then it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGSTOP)
        self.cut_connections()
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def minimal_path(root: Path) -> str:
    """A folder of links to sh, coreutils and setsid only: a box with nothing installed."""
    folder = root / "minimal-bin"
    folder.mkdir(parents=True, exist_ok=True)
    for tool in MINIMAL_TOOLS:
        found = shutil.which(tool, path="/usr/bin:/bin")
        if found and not (folder / tool).exists():
            (folder / tool).symlink_to(found)
    return str(folder)


class Namespace:
    """A network namespace joined to this one by a veth pair; its link can be cut."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.name = f"ryns-{tag}"
        self.host_if, self.box_if = f"ryh{tag}", f"ryb{tag}"
        subnet = int(tag[:2], 16) % 200 + 20
        self.host_address = f"10.{subnet}.{int(tag[2:4], 16)}.1"
        self.box_address = f"10.{subnet}.{int(tag[2:4], 16)}.2"

    def create(self) -> "Namespace":
        steps = [["ip", "netns", "add", self.name],
                 ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.box_if],
                 ["ip", "link", "set", self.box_if, "netns", self.name],
                 ["ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_if],
                 ["ip", "link", "set", self.host_if, "up"],
                 ["ip", "netns", "exec", self.name, "ip", "addr", "add",
                  f"{self.box_address}/30", "dev", self.box_if],
                 ["ip", "netns", "exec", self.name, "ip", "link", "set", self.box_if, "up"],
                 ["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"]]
        for step in steps:
            subprocess.run(step, check=True, capture_output=True)
        return self

    def link(self, up: bool) -> None:
        subprocess.run(["ip", "link", "set", self.host_if, "up" if up else "down"], check=True,
                       capture_output=True)

    def delete(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    @staticmethod
    def possible() -> bool:
        probe = f"ryprobe-{secrets.token_hex(3)}"
        made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
        if made.returncode != 0:
            return False
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
        return True
