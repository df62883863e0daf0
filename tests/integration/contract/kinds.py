"""The target kinds the contract test runs against, and the little a test must do from outside.

Everything a contract case asserts goes through `core.executors.base.Executor`. A `Kind`
adds only what a test needs beyond it: the target's config, where the run's working folder
is as this machine sees it (to drop a file the run waits for), how to put the target out
of reach and bring it back (stop and start its real daemon), and the environment an
engine serving it needs (SLURM_CONF). The real daemons come from the integration fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.config import TargetConfig
from core.executors import executor_class, option_checker
from core.executors.base import Context, Executor
from core.models import Run, RunSpec, RunState
from core.paths import StorePaths
from core.store.blobs import BlobStore
from tests.integration.contract.fake import FakeExecutor

# The name of each variant the contract runs against, and the target kind it is.
KINDS = {"local": "local", "ssh": "ssh", "docker": "docker", "slurm": "slurm",
         "slurm-over-ssh": "slurm", "fake": "fake"}


@dataclass
class Kind:
    name: str
    target: TargetConfig
    go_away: Callable[[], object] | None = None       # None: the kind is never out of reach
    come_back: Callable[[], object] | None = None
    env: dict[str, str] = field(default_factory=dict)
    remote_folder: bool = False         # the run's folder is the box's, named in its handle

    def executor(self, home: Path) -> Executor:
        return build_executor(self.target, home)

    def workdir(self, home: Path, run: Run, handle: dict) -> Path:
        """The run's working folder (its copy of the code), as this machine sees it."""
        if self.remote_folder:                       # an SSH box on loopback
            return Path(handle["work"]) / handle["run_dir"] / "code"
        return StorePaths(home).run_dir(run.id) / "code"


def build_executor(target: TargetConfig, home: Path) -> Executor:
    """A fresh executor on the store at `home`, as an engine (or a restarted one) makes it."""
    paths = StorePaths(home)
    paths.ensure()
    context = Context(paths, BlobStore(paths.blobs))
    made = FakeExecutor if target.kind == "fake" else executor_class(target.kind)
    return made(target, context)


def make_run(run_id: int, command: list[str], snapshot: str | None, target: str) -> Run:
    return Run(id=run_id, spec=RunSpec(command=command, template=command, params={},
                                       target=target),
               state=RunState.RUNNING, snapshot=snapshot, project="/contract", workdir="",
               created_at="2026-01-01T00:00:00.000Z")


def _target(name: str, kind: str, options: dict) -> TargetConfig:
    checked = option_checker(kind)(Path("contract.toml"), f"targets.{name}", options) \
        if kind != "fake" else options
    return TargetConfig(name=name, kind=kind, gpus="none", options=checked)


def local() -> Kind:
    return Kind("local", _target("local", "local", {}))


def fake(switch: Path) -> Kind:
    return Kind("fake", _target("fake", "fake", {"switch": str(switch)}),
                go_away=switch.touch, come_back=switch.unlink)


def ssh(client, box) -> Kind:
    options = {"host": box.name, "ssh_config": str(client.config), "work_dir": str(box.work),
               "connect_timeout": 5, "command_timeout": 20}
    return Kind("ssh", _target("box", "ssh", options), go_away=box.stop, come_back=box.start,
                remote_folder=True)


def docker(dockerd, image: str) -> Kind:
    options = {"image": image, "host": dockerd.url}
    return Kind("docker", _target("engine", "docker", options), go_away=dockerd.stop,
                come_back=dockerd.start)


def slurm(cluster) -> Kind:
    options = {"partition": "debug", "command_timeout": 30}
    return Kind("slurm", _target("cluster", "slurm", options), go_away=cluster.stop_controller,
                come_back=cluster.start_controller, env=dict(cluster.env))


def slurm_over_ssh(client, login) -> Kind:
    """Submitting on a login node over SSH (a box on loopback whose sessions reach the test
    cluster); out of reach is the login node's sshd stopped."""
    options = {"host": login.name, "ssh_config": str(client.config), "work_dir": str(login.work),
               "connect_timeout": 5, "command_timeout": 30, "partition": "debug"}
    return Kind("slurm-over-ssh", _target("cluster", "slurm", options), go_away=login.stop,
                come_back=login.start, remote_folder=True)
