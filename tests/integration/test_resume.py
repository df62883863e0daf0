"""Resuming from checkpoints: clone --resume, and retries, hand over the newest checkpoint."""

from pathlib import Path


def test_clone_resume_hands_the_newest_checkpoint_to_the_new_run(cli, env):
    parent = cli.launch("python3", "train.py", "--epochs", "3", "--delay", "0",
                        opts=("--checkpoints", "checkpoints"))
    cli("wait", str(parent))
    assert cli.run(parent)["checkpoints"] == "checkpoints"
    child = int(cli("clone", str(parent), "--resume", "--set", "epochs=5").stdout)
    cli("wait", str(child))
    newest = Path(env["RUNYARD_HOME"]) / "runs" / str(parent) / "code" / "checkpoints" / "epoch3.json"
    run = cli.run(child)
    assert run["resume_from"] == str(newest) and run["parent"] == parent
    log = cli("logs", str(child)).stdout
    assert f"resumed from {newest} at epoch 3" in log
    assert "epoch 4 done" in log and "epoch 1 done" not in log
    assert "epoch 5 done" in log


def test_resume_without_a_checkpoint_is_refused(cli):
    plain = cli.launch("true")
    cli("wait", str(plain))
    proc = cli("clone", str(plain), "--resume", check=False)
    assert proc.returncode == 2 and "names no checkpoint folder" in proc.stderr
    proc = cli("clone", str(plain), "--resume", "--checkpoints", "ckpt", check=False)
    assert proc.returncode == 2 and "has no checkpoint in" in proc.stderr
    bad = cli("launch", "--checkpoints", "../elsewhere", "--", "true", check=False)
    assert bad.returncode == 2 and "a folder inside the run's code folder" in bad.stderr


def test_a_retry_resumes_from_the_checkpoint_of_the_failed_attempt(cli):
    first = cli.launch("python3", "train.py", "--epochs", "3", "--delay", "0", "--fail-at-epoch", "3",
                       opts=("--checkpoints", "checkpoints", "--retries", "1", "--retry-delay", "0"))
    cli("wait", str(first), check=False)
    second = cli.run(first)["retried_as"]
    assert second is not None
    log = cli("logs", str(second)).stdout
    assert "at epoch 2" in log and cli.run(second)["resume_from"].endswith("epoch2.json")
