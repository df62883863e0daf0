"""A real Docker engine for the docker target's tests, started and stopped by the tests.

Each `Dockerd` is a daemon of its own: socket, data root, exec root (with the containerd
it starts), pid file, all under a pytest tmp folder. It makes no bridge and no iptables
rules (`--bridge=none --iptables=false`), because the default bridge and the NAT table
can belong to one daemon only, and another dockerd may run on this machine. It runs with
`--live-restore`, as servers usually do, so containers outlive a restart of it. Besides
its unix socket it listens on a free TCP port of 127.0.0.1: runyard treats a TCP engine as
remote (code copied in, not bind-mounted), which is what the remote tests need.

Images are built locally (no registry can be reached): busybox from busybox-static in
about a second, and Python from a debootstrap root file system (about 40 s), which is
kept as a tar under $RUNYARD_TEST_CACHE (default /var/tmp/runyard-test-cache) for later
local sessions; under CI=true it is always built fresh.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.helpers import free_port, process_alive, wait_for

BUSYBOX = Path("/bin/busybox")
BUSYBOX_IMAGE = "runyard-test/busybox:1"
PYTHON_IMAGE = "runyard-test/python:1"
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", "--include=python3", "bookworm"]
APT_SOURCES = Path("/etc/apt")
PYTHON_ROOTFS_VERSION = "bookworm-python3-v1"       # change to rebuild cached tarballs
_TRIM = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info",
         "var/cache/apt/archives", "var/lib/apt/lists")


def debian_mirror(apt: Path = APT_SOURCES) -> str | None:
    """The Debian mirror apt uses on this machine, read from its sources (deb822 `URIs:`
    first, then one-line `deb` entries); the security archive is not a mirror of Debian."""
    found = []
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for line in path.read_text(errors="replace").splitlines():
            if line.lower().startswith("uris:"):
                found += line.split(":", 1)[1].split()
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                words = [w for w in line.split() if not w.startswith("[")]
                if words[:1] == ["deb"] and len(words) > 1:
                    found.append(words[1])
    return next((uri for uri in found if "security" not in uri), None)


class Dockerd:
    """One dockerd under `root`, started and stopped by pid (never by name)."""

    def __init__(self, root: Path):
        self.root = root
        self.socket = root / "docker.sock"
        self.pidfile = root / "docker.pid"
        self.exec_root = root / "exec"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "dockerd.log", "ab")
        self.process = subprocess.Popen(
            ["dockerd", "--host", self.url, "--host", self.tcp_url,
             "--data-root", str(self.root / "data"), "--exec-root", str(self.exec_root),
             "--pidfile", str(self.pidfile), "--bridge=none", "--iptables=false",
             "--ip-masq=false", "--ip-forward=false", "--live-restore", "--log-level=warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        wait_for(self._answers, timeout=timeout, interval=0.1,
                 what=lambda: "dockerd to answer:\n" + self.log_tail())

    def _answers(self) -> bool:
        """Whether `docker version` gets an answer; a dockerd that exited fails at once."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"dockerd exited {self.process.returncode}:\n" + self.log_tail())
        return self.docker("version", check=False).returncode == 0

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM our dockerd, wait for it to exit; SIGKILL at the deadline."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def docker(self, *args: str, check: bool = True, input: bytes | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run(["docker", *args], env={**os.environ, "DOCKER_HOST": self.url},
                              capture_output=True, input=input, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stderr.decode(errors='replace')}")
        return proc

    def containers(self, *filters: str) -> list[str]:
        args = ["ps", "-aq", "--no-trunc"] + [f"--filter={f}" for f in filters]
        return self.docker(*args).stdout.decode().split()

    def inspect(self, container: str) -> dict:
        return json.loads(self.docker("inspect", container).stdout)[0]

    def import_tree(self, tree: Path, image: str) -> None:
        tar = subprocess.Popen(["tar", "-C", str(tree), "-c", "."], stdout=subprocess.PIPE)
        self.docker_stdin_import(tar.stdout, image)
        assert tar.wait() == 0

    def import_tar(self, tar_path: Path, image: str) -> None:
        with open(tar_path, "rb") as handle:
            self.docker_stdin_import(handle, image)

    def docker_stdin_import(self, stream, image: str) -> None:
        proc = subprocess.run(["docker", "import", "-", image], stdin=stream,
                              env={**os.environ, "DOCKER_HOST": self.url},
                              capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")

    def log_tail(self) -> str:
        try:
            return (self.root / "dockerd.log").read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """Remove every container (live-restore keeps them past the daemon), stop the
        daemon, and end any container shim of ours that is left."""
        if self.process is not None and self.process.poll() is None:
            ids = self.containers()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
        self.stop()
        for pid in _processes_mentioning(str(self.exec_root)):
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not process_alive(pid), timeout=10, what=f"shim {pid} to end")
        for point in _mounts_under(self.root):       # dockerd may leave its root mounted
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root`, deepest first."""
    prefix = str(root)
    with open("/proc/self/mounts") as handle:
        points = [line.split()[1] for line in handle]
    points = [p.replace("\\040", " ") for p in points
              if p == prefix or p.startswith(prefix + "/")]
    return sorted(points, key=len, reverse=True)


def _processes_mentioning(text: str) -> list[int]:
    marker = text.encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                if marker in handle.read():
                    found.append(int(name))
        except OSError:
            continue
    return found


def busybox_tree(dest: Path) -> Path:
    """A root file system with only a static busybox and its applets' links."""
    (dest / "bin").mkdir(parents=True)
    (dest / "tmp").mkdir(mode=0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", dest / "bin" / applet)
    (dest / "etc").mkdir()
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\n")
    return dest



def python_rootfs(work: Path) -> Path:
    """A tar of a minimal Debian with python3: cached locally, built fresh under CI."""
    cache = None if os.environ.get("CI") else Path(
        os.environ.get("RUNYARD_TEST_CACHE", "/var/tmp/runyard-test-cache"))
    if cache is not None:
        cached = cache / f"{PYTHON_ROOTFS_VERSION}.tar"
        if cached.is_file():
            return cached
    tree = work / "python-rootfs"
    mirror = debian_mirror()
    assert mirror, f"no Debian mirror in apt's sources ({APT_SOURCES}) for debootstrap"
    proc = subprocess.run([*DEBOOTSTRAP, str(tree), mirror], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"debootstrap failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    for part in _TRIM:
        shutil.rmtree(tree / part, ignore_errors=True)
    python = tree / "usr" / "bin" / "python"
    if not python.exists():
        os.symlink("python3", python)
    out = work / f"{PYTHON_ROOTFS_VERSION}.tar"
    subprocess.run(["tar", "--numeric-owner", "-C", str(tree), "-cf", str(out), "."], check=True)
    shutil.rmtree(tree, ignore_errors=True)
    if cache is None:
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f"{PYTHON_ROOTFS_VERSION}.{os.getpid()}.tmp"
    shutil.move(out, tmp)
    os.replace(tmp, cache / f"{PYTHON_ROOTFS_VERSION}.tar")
    return cache / f"{PYTHON_ROOTFS_VERSION}.tar"
