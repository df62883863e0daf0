"""The executor contract's fixtures: an SSH box, a login node, the kind a case runs
against (parametrized indirectly), and a store of the case's own."""

from __future__ import annotations

import os

import pytest

from core.config import Project, SnapshotConfig
from core.paths import StorePaths
from core.store.blobs import BlobStore
from core.store.snapshot import take
from tests.daemons import sshd
from tests.daemons.ssh_fixtures import FULL_PATH
from tests.helpers import kill_store_processes, require
from tests.integration.contract import kinds
from tests.integration.contract.harness import GREETING, Store
from tests.integration.contract.kinds import Kind


def _box(tmp_path_factory, name: str, **settings):
    require(sshd.available(), "OpenSSH's sshd and ssh-keygen are needed (apt openssh-server)")
    require(os.geteuid() == 0, "the ssh tests log in as root to sshd on loopback")
    root = tmp_path_factory.mktemp(f"contract-{name}")
    client = sshd.Client(root / "client")
    box = sshd.SshBox(root, name, client.public_key, **settings).start()
    client.trust(box)
    client.add_alias(box.name, box)
    yield client, box
    box.stop()
    kill_store_processes(box.work)


@pytest.fixture(scope="module")
def ssh_box(tmp_path_factory):
    yield from _box(tmp_path_factory, "box")


@pytest.fixture(scope="module")
def login_box(tmp_path_factory, slurm_cluster):
    """A login node: its sessions find sbatch and the test cluster's SLURM_CONF."""
    yield from _box(tmp_path_factory, "login", path_env=FULL_PATH, set_env=slurm_cluster.env)


@pytest.fixture
def kind(request, tmp_path, monkeypatch) -> Kind:
    name = request.param
    if name in ("ssh", "slurm-over-ssh"):
        home = tmp_path / "home"            # never the machine's ~/.ssh or agent
        home.mkdir()
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    if name == "ssh":
        return kinds.ssh(*request.getfixturevalue("ssh_box"))
    if name == "slurm-over-ssh":
        return kinds.slurm_over_ssh(*request.getfixturevalue("login_box"))
    if name == "docker":
        return kinds.docker(request.getfixturevalue("dockerd"),
                            request.getfixturevalue("busybox_image"))
    if name == "slurm":
        cluster = request.getfixturevalue("slurm_cluster")
        for key, value in cluster.env.items():
            monkeypatch.setenv(key, value)
        return kinds.slurm(cluster)
    if name == "fake":
        return kinds.fake(tmp_path / "fake-out-of-reach")
    return kinds.local()


@pytest.fixture
def store(tmp_path) -> Store:
    """A store whose snapshot holds hello.txt; what its runs leave running is killed after."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "hello.txt").write_text(GREETING)
    home = tmp_path / "store"
    paths = StorePaths(home)
    paths.ensure()
    snapshot = take(Project(project, None, "", False), SnapshotConfig(), BlobStore(paths.blobs),
                    {})
    yield Store(home, snapshot.id)
    kill_store_processes(home)
