"""Fixtures of the ssh tests: two real OpenSSH boxes on loopback and a project that targets them.

- box1: a normal box (tar, python3) whose PATH also holds a stand-in `nvidia-smi` (no GPU
  exists here; it prints the documented CSV query format, recorded);
- box2: a box with nothing installed: its sessions' PATH has sh, coreutils and setsid only
  (no tar, so code arrives through the plain stream and one `ln` per file).
Each box has its own work folder, so each is a separate remote store. tests/integration/
conftest.py makes the `lab` fixture available to every integration test.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.daemons import sshd
from tests.helpers import kill_store_processes, require
from tests.standins import nvidia_smi

FULL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Lab:
    """The client side and the boxes of one test."""

    def __init__(self, root: Path, project: Path, env: dict):
        self.root = root
        self.project = project
        self.env = env
        self.client = sshd.Client(root / "client")
        gpu_bin = nvidia_smi(root / "gpu-bin")
        self.boxes: dict[str, sshd.SshBox] = {}
        self.box1 = self.add_box("box1", path_env=f"{gpu_bin}:{FULL_PATH}")
        self.box2 = self.add_box("box2", path_env=sshd.minimal_path(root))

    def add_box(self, name: str, path_env: str | None = None, trust: bool = True,
                **kwargs) -> sshd.SshBox:
        box = sshd.SshBox(self.root, name, self.client.public_key, path_env=path_env,
                          **kwargs).start()
        if trust:
            self.client.trust(box)
        self.client.add_alias(name, box)
        self.boxes[name] = box
        return box

    def target(self, name: str, box: sshd.SshBox | None = None, **keys) -> str:
        """A [targets.NAME] table for the box of that name (or `box`)."""
        box = box or self.boxes[name]
        table = {"kind": "ssh", "host": box.name, "ssh_config": str(self.client.config),
                 "work_dir": str(box.work), "gpus": "none", "max_parallel": 8,
                 "connect_timeout": 5, "command_timeout": 20, **keys}
        lines = [f"[targets.{name}]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
        return "\n".join(lines) + "\n"

    def configure(self, *tables: str) -> None:
        (self.project / "runyard.toml").write_text("".join(tables))

    def handle(self, run_id: int) -> dict:
        """The handle the engine recorded for a run (not part of the CLI's JSON)."""
        db = Path(self.env["RUNYARD_HOME"]) / "runyard.db"
        with sqlite3.connect(db) as conn:
            return json.loads(conn.execute("SELECT handle FROM runs WHERE id = ?",
                                           (run_id,)).fetchone()[0])

    def remote_run_dir(self, box: sshd.SshBox, run_id: int) -> Path:
        found = list((box.work / "runs").glob(f"*/{run_id}-*"))
        assert len(found) == 1, found
        return found[0]

    def close(self) -> None:
        for box in self.boxes.values():
            box.stop()
        for box in self.boxes.values():
            kill_store_processes(box.work)


@pytest.fixture
def lab(tmp_path, env, project):
    require(sshd.available(), "OpenSSH's sshd and ssh-keygen are needed (apt openssh-server)")
    require(os.geteuid() == 0, "the ssh tests log in as root to sshd on loopback")
    # The engine must never read the machine's ~/.ssh or agent: its HOME is empty here.
    home = tmp_path / "home"
    home.mkdir()
    env["HOME"] = str(home)
    env.pop("SSH_AUTH_SOCK", None)
    made = Lab(tmp_path / "ssh", project, env)
    yield made
    made.close()
