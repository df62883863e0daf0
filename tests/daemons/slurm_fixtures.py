"""Fixtures of the slurm tests: one real single-node cluster per session, and a project with a
slurm target on it.

`slurm_cluster` starts munged, slurmctld and slurmd (tests/daemons/slurm.py) once; every test
that uses `slurm` gets SLURM_CONF in its environment (so the engine, sbatch and the jobs use
the test cluster) and, when it ends, the jobs its store submitted are cancelled.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.daemons.slurm import SlurmCluster, available as slurm_installed
from tests.helpers import EXAMPLES, Cli, isolated_env, require, stop_store


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    require(slurm_installed(),
            "munged, slurmctld, slurmd and the Slurm commands are needed "
            "(apt-get install slurm-wlm munge)")
    require(os.geteuid() == 0, "the test cluster runs its daemons as root")
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cancel_all()
        cluster.stop()


class SlurmLab:
    """The cluster, the project's slurm targets, and what the engine recorded."""

    def __init__(self, cluster: SlurmCluster, project: Path, env: dict):
        self.cluster = cluster
        self.project = project
        self.env = env

    def target(self, name: str = "cluster", **keys) -> str:
        table = {"kind": "slurm", "partition": "debug", "command_timeout": 20, **keys}
        lines = [f"[targets.{name}]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
        return "\n".join(lines) + "\n"

    def configure(self, *tables: str, extra: str = "") -> None:
        (self.project / "runyard.toml").write_text("".join(tables) + extra)

    def handle(self, run_id: int) -> dict:
        with sqlite3.connect(self.db) as conn:
            return json.loads(conn.execute("SELECT handle FROM runs WHERE id = ?",
                                           (run_id,)).fetchone()[0])

    @property
    def db(self) -> Path:
        return Path(self.env["RUNYARD_HOME"]) / "runyard.db"

    def job(self, run_id: int) -> str:
        return self.handle(run_id).get("job", "")

    def cancel_jobs(self) -> None:
        """Cancel every job this test's store submitted (they outlive its engine)."""
        if not self.db.exists():
            return
        with sqlite3.connect(self.db) as conn:
            keys = [json.loads(h).get("job") for (h,) in conn.execute("SELECT handle FROM runs")]
        keys = [k for k in keys if k]
        if keys:
            self.cluster.run("scancel", *keys, check=False)


@pytest.fixture
def slurm(slurm_cluster, env, project):
    env.update(slurm_cluster.env)
    lab = SlurmLab(slurm_cluster, project, env)
    yield lab
    lab.cancel_jobs()


@pytest.fixture(scope="session")
def time_limited_run(slurm_cluster, tmp_path_factory):
    """A run on a target with a 1-minute time limit, launched when first asked for.

    Slurm enforces time limits every 30 s or so, and 1 minute is its smallest limit, so the
    run ends 60-90 s after it starts. tests/integration/slurm/conftest.py asks for it
    first thing, and slurm/test_time_limit.py (which sorts after the other slurm tests)
    checks it, so the wait overlaps the other tests. Yields (cli, run id, lab).
    """
    root = tmp_path_factory.mktemp("time-limit")
    project = root / "project"
    shutil.copytree(EXAMPLES / "train", project)
    env = {**isolated_env(root), **slurm_cluster.env}
    lab = SlurmLab(slurm_cluster, project, env)
    lab.configure(lab.target(partition="short", time_limit=1))
    cli = Cli(env, project)
    run_id = cli.launch("sleep", "300", opts=("--target", "cluster"))
    try:
        yield cli, run_id, lab
    finally:
        lab.cancel_jobs()
        stop_store(env, root)
