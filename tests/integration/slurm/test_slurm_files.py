"""A Slurm run's files on the real test cluster, submitted on a login node over SSH (OpenSSH on
loopback) and from this machine: listed, pulled byte-identical, 0 bytes the second time,
declared outputs pulled when the run ends, and a retry resuming from the checkpoint the
failed attempt wrote on the cluster."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import wait_for
from tests.integration.files_helpers import (WROTE_BY_WRITER, add_writer, by_path, digest,
                                             same_files)
from tests.daemons.ssh_fixtures import FULL_PATH

TRAIN = ("python3", "train.py", "--epochs", "3", "--delay", "0", "--fail-at-epoch", "3")


def _login(lab, slurm) -> tuple:
    box = lab.add_box("login", path_env=FULL_PATH, set_env=slurm.cluster.env)
    table = lab.target("login").replace('kind = "ssh"', 'kind = "slurm"').replace(
        "[targets.login]", "[targets.cluster]").replace('gpus = "none"\n', "")
    return box, table + 'partition = "debug"\n'


def _files_and_pull(cli, run_id: int, code: Path) -> None:
    files = by_path(cli.json("files", str(run_id), "--json"))
    assert sorted(files) == sorted(WROTE_BY_WRITER)
    assert files["model.bin"]["status"] == "new" and files["notes.txt"]["status"] == "changed"
    out = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "out"
    wait_for(lambda: (out / "results" / "metrics.csv").exists(), timeout=60,
             what="the declared output, pulled when the run ended")
    assert digest(out / "results" / "metrics.csv") == digest(code / "results" / "metrics.csv")
    pulled = cli.json("pull", str(run_id), "--json")
    assert pulled["counts"] == {"fetched": 4, "unchanged": 1}
    same_files(out, code, WROTE_BY_WRITER)
    again = cli.json("pull", str(run_id), "--json")
    assert again["content_bytes"] == 0 and again["counts"] == {"unchanged": 5}


def _retry_resumes(cli, target: str, written_in) -> None:
    first = cli.launch(*TRAIN, opts=("--target", target, "--checkpoints", "checkpoints",
                                     "--retries", "1", "--retry-delay", "0"))
    cli.wait_state(first, "failed", timeout=90)
    second = cli.run(first)["retried_as"]
    done = cli.wait_state(second, "failed", timeout=90)
    checkpoint = written_in(first) / "checkpoints" / "epoch2.json"
    assert done["resume_from"] == str(checkpoint), "read where the failed attempt wrote it"
    assert f"resumed from {checkpoint} at epoch 2" in cli("logs", str(second)).stdout


def test_a_run_submitted_on_a_login_node_its_files_and_a_retry_that_resumes(lab, slurm, cli,
                                                                            project):
    add_writer(project)
    box, table = _login(lab, slurm)
    lab.configure(table)
    run_id = cli.launch("python3", "write_outputs.py", "1500000",
                        opts=("--target", "cluster", "--checkpoints", "ckpt",
                              "--outputs", "results/*.csv"))
    cli.wait_state(run_id, "succeeded", timeout=90)
    _files_and_pull(cli, run_id, box.work / lab.handle(run_id)["run_dir"] / "code")
    _retry_resumes(cli, "cluster", lambda run: box.work / lab.handle(run)["run_dir"] / "code")


def test_a_run_submitted_here_its_files_and_a_retry_that_resumes(slurm, cli, project):
    add_writer(project)
    slurm.configure(slurm.target())
    run_id = cli.launch("python3", "write_outputs.py", "1500000",
                        opts=("--target", "cluster", "--checkpoints", "ckpt",
                              "--outputs", "results/*.csv"))
    cli.wait_state(run_id, "succeeded", timeout=90)
    runs = Path(cli.env["RUNYARD_HOME"]) / "runs"
    _files_and_pull(cli, run_id, runs / str(run_id) / "code")
    _retry_resumes(cli, "cluster", lambda run: runs / str(run) / "code")
