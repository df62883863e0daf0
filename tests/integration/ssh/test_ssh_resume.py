"""Resuming from checkpoints written on real OpenSSH boxes: a retry on the same box reads the
failed attempt's checkpoint where it is; a clone on another box (or here) gets it copied,
content-addressed, so a second one sends nothing."""

from __future__ import annotations

from pathlib import Path

from tests.daemons.ssh_fixtures import FULL_PATH

TRAIN = ("python3", "train.py", "--epochs", "4", "--delay", "0")


def _events(cli, run_id: int) -> list[str]:
    return [e["message"] for e in cli.json("show", str(run_id), "--json")["events"]]


def test_a_retry_on_the_box_resumes_from_the_checkpoint_the_failed_attempt_wrote_there(lab, cli):
    lab.configure(lab.target("box1"))
    first = cli.launch(*TRAIN, "--fail-at-epoch", "3",
                       opts=("--target", "box1", "--checkpoints", "checkpoints",
                             "--retries", "1", "--retry-delay", "0"))
    cli.wait_state(first, "failed", timeout=90)
    second = cli.run(first)["retried_as"]
    done = cli.wait_state(second, "failed", timeout=90)     # it fails at epoch 3 again
    written = lab.remote_run_dir(lab.box1, first) / "code" / "checkpoints" / "epoch2.json"
    assert done["resume_from"] == str(written), "read where the failed attempt wrote it"
    assert done["resume_point"] == f"{first}:checkpoints/epoch2.json"
    assert f"resumed from {written} at epoch 2" in cli("logs", str(second)).stdout
    assert f"resuming from run {first}'s checkpoints/epoch2.json (read where it is)" in \
        _events(cli, second)
    assert not list((lab.box1.work / "snapshots").glob("*/checkpoints")), "nothing was copied"


def test_a_clone_on_another_box_or_here_gets_the_checkpoint_copied_once(lab, cli):
    other = lab.add_box("box3", path_env=FULL_PATH)          # box2 has no python3
    lab.configure(lab.target("box1"), lab.target("box3"))
    parent = cli.launch(*TRAIN, opts=("--target", "box1", "--checkpoints", "checkpoints"))
    cli.wait_state(parent, "succeeded", timeout=90)
    newest = lab.remote_run_dir(lab.box1, parent) / "code" / "checkpoints" / "epoch4.json"

    elsewhere = int(cli("clone", str(parent), "--resume", "--target", "box3",
                        "--set", "epochs=5").stdout)
    done = cli.wait_state(elsewhere, "succeeded", timeout=90)
    staged = Path(done["resume_from"])
    assert staged.is_relative_to(other.work / "snapshots"), done["resume_from"]
    assert staged.read_bytes() == newest.read_bytes()
    log = cli("logs", str(elsewhere)).stdout
    assert f"resumed from {staged} at epoch 4" in log and "epoch 5 done" in log
    assert "epoch 1 done" not in log
    assert f"resuming from run {parent}'s checkpoints/epoch4.json (copied here)" in \
        _events(cli, elsewhere)
    blobs = sorted(p.name for p in (other.work / "blobs").glob("*/*"))

    again = int(cli("clone", str(parent), "--resume", "--target", "box3", "--set", "epochs=6",
                    "--force").stdout)
    cli.wait_state(again, "succeeded", timeout=90)
    assert cli.run(again)["resume_from"] == str(staged), "the same layout, already there"
    assert sorted(p.name for p in (other.work / "blobs").glob("*/*")) == blobs

    here = int(cli("clone", str(parent), "--resume", "--target", "local",
                   "--set", "epochs=5").stdout)
    local = cli.wait_state(here, "succeeded", timeout=90)
    pulled = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(parent) / "out" / "checkpoints" / \
        "epoch4.json"
    assert local["resume_from"] == str(pulled) and pulled.read_bytes() == newest.read_bytes()
    assert "resumed from" in cli("logs", str(here)).stdout
