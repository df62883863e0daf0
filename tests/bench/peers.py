"""Peer tools measured beside runyard in the same run: Guild AI, DVC, task-spooler, xargs.

Guild and DVC are installed from PyPI into their own venvs under $RUNYARD_BENCH_PEERS
(default ~/.cache/runyard-bench-peers) the first time; task-spooler (`tsp`) comes from
apt. A peer that cannot be installed is reported as missing, never replaced by a guess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import wait_for

PEERS_HOME = Path(os.environ.get("RUNYARD_BENCH_PEERS",
                                 Path.home() / ".cache" / "runyard-bench-peers"))
PACKAGES = {"guild": "guildai==0.9.0", "dvc": "dvc==3.67.1"}


def peer_bin(name: str) -> Path | None:
    """The bin folder of a peer's venv, installing it on first use; None if that fails."""
    venv = PEERS_HOME / name
    tool = venv / "bin" / name
    if tool.exists():
        return tool.parent
    print(f"installing {PACKAGES[name]} for the comparison (once)...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", PACKAGES[name]], check=True,
                       stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as exc:
        print(f"cannot install {name}: {exc}", file=sys.stderr)
        return None
    return tool.parent if tool.exists() else None


class Guild:
    def __init__(self, project: Path, home: Path, env: dict):
        self.bin = peer_bin("guild")
        self.project = project
        home.mkdir(parents=True, exist_ok=True)
        self.env = {**env, "GUILD_HOME": str(home)}
        (project / "guild.yml").write_text('noop:\n  exec: "true"\n')

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "guild"), *args], cwd=self.project, env=self.env,
                              capture_output=True, text=True, **kwargs)

    def stage(self, *args: str) -> None:
        self.run("run", "--stage", "-y", *args, check=True)

    def drain(self, workers: int, timeout: float = 1800) -> None:
        """Start `workers` queues that run every staged run, and wait until none is left."""
        for _ in range(workers):
            self.run("run", "queue", "run-once=yes", "poll-interval=1", "-b", "-y", check=True)
        wait_for(self._idle, timeout=timeout, interval=0.2, what="guild queues to finish")

    def _idle(self) -> bool:
        out = self.run("runs", "list", "-a", check=True).stdout
        return not any(" staged" in line or " running" in line or " pending" in line
                       for line in out.splitlines())


class Dvc:
    def __init__(self, project: Path, env: dict):
        self.bin = peer_bin("dvc")
        self.project = project
        self.env = {**env, "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '')}"}
        (project / "dvc.yaml").write_text(
            "stages:\n  noop:\n    cmd: 'true'\n    always_changed: true\n")
        self.run("init", "-q", check=True)
        subprocess.run(["git", "add", "-A"], cwd=project, env=self.env, check=True)
        subprocess.run(["git", "commit", "-qm", "dvc"], cwd=project, env=self.env, check=True)

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "dvc"), *args], cwd=self.project, env=self.env,
                              capture_output=True, text=True, **kwargs)

    def drain(self, workers: int, timeout: float = 3600) -> None:
        self.run("queue", "start", "-j", str(workers), check=True)
        wait_for(self._idle, timeout=timeout, interval=0.5, what="the dvc queue to finish")
        self.run("queue", "stop", check=False)

    def _idle(self) -> bool:
        out = self.run("queue", "status", check=True).stdout
        return not any(word in out for word in ("Queued", "Running"))


def have(binary: str) -> bool:
    return shutil.which(binary) is not None
