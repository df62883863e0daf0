"""A remote Docker engine's run files (the engine reached over TCP, so the code is copied in):
kept in a volume after the container goes, listed and pulled byte-identical, a second pull
sends nothing, declared outputs come here when the run ends, `tui rm` removes the volume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import wait_for
from tests.daemons.docker_fixtures import write_targets
from tests.integration.files_helpers import WROTE_BY_WRITER, add_writer, by_path, digest


def _remote(cli, image: str, url: str) -> None:
    write_targets(cli.cwd, f'[targets.remote]\nkind = "docker"\nimage = "{image}"\n'
                           f'host = "{url}"\n')


def _expected(tmp_path: Path, project: Path, size: int) -> Path:
    """What the writer leaves, made here by running it the same way."""
    here = tmp_path / "expected"
    here.mkdir()
    for name in ("write_outputs.py", "notes.txt"):
        (here / name).write_bytes((project / name).read_bytes())
    subprocess.run([sys.executable, "write_outputs.py", str(size)], cwd=here, check=True,
                   capture_output=True)
    return here


def test_a_remote_engines_run_keeps_its_files_in_a_volume_and_pull_brings_them(
        cli, dockerd, python_image, project, tmp_path):
    add_writer(project)
    _remote(cli, python_image, dockerd.tcp_url)
    run_id = cli.launch("python3", "write_outputs.py", "2000000",
                        opts=("--target", "remote", "--checkpoints", "ckpt",
                              "--outputs", "results/*.csv"))
    cli.wait_state(run_id, "succeeded", timeout=120)
    assert dockerd.docker("ps", "-a", "-q", "--filter", f"label=runyard.run={run_id}",
                          "--filter", "label=runyard.target=remote").stdout.strip() == b"", \
        "the run's container is gone"
    volumes = dockerd.docker("volume", "ls", "-q", "--filter", f"label=runyard.run={run_id}")
    assert len(volumes.stdout.split()) == 1, "its files stay in a volume"
    wait_for(lambda: not dockerd.docker("ps", "-a", "-q", "--filter",
                                        f"label=runyard.run={run_id}").stdout.strip(),
             timeout=60, what="the container that read the declared outputs to go")

    files = by_path(cli.json("files", str(run_id), "--json"))
    assert sorted(files) == sorted(WROTE_BY_WRITER)
    assert files["model.bin"]["status"] == "new" and files["notes.txt"]["status"] == "changed"
    out = Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "out"
    expected = _expected(tmp_path, project, 2_000_000)
    wait_for(lambda: (out / "results" / "metrics.csv").exists(), timeout=60,
             what="the declared output to be pulled when the run ended")
    assert digest(out / "results" / "metrics.csv") == digest(expected / "results" / "metrics.csv")
    assert not (out / "model.bin").exists(), "only what --outputs names comes by itself"

    pulled = cli.json("pull", str(run_id), "--json")
    assert pulled["counts"] == {"fetched": 4, "unchanged": 1}
    for path in WROTE_BY_WRITER:
        assert digest(out / path) == digest(expected / path), path
    again = cli.json("pull", str(run_id), "--json")
    assert again["content_bytes"] == 0 and again["counts"] == {"unchanged": 5}

    cli("engine", "stop")
    after = by_path(cli.json("files", str(run_id), "--json"))
    assert {p: (f["status"], f["size"]) for p, f in after.items()} == \
        {p: (f["status"], f["size"]) for p, f in files.items()}
    cli("rm", str(run_id))
    wait_for(lambda: not dockerd.docker("volume", "ls", "-q", "--filter",
                                        f"label=runyard.run={run_id}").stdout.strip(),
             timeout=60, what="tui rm to remove the run's volume")


TRAIN = ("python3", "train.py", "--epochs", "3", "--delay", "0")


def test_resuming_on_a_docker_engine_reads_a_checkpoint_there_or_gets_it_copied_in(
        cli, dockerd, python_image, project):
    _remote(cli, python_image, dockerd.tcp_url)
    first = cli.launch(*TRAIN, "--fail-at-epoch", "3",
                       opts=("--target", "remote", "--checkpoints", "checkpoints",
                             "--retries", "1", "--retry-delay", "0"))
    cli.wait_state(first, "failed", timeout=120)
    second = cli.run(first)["retried_as"]
    retried = cli.wait_state(second, "failed", timeout=120)
    volume = dockerd.docker("volume", "ls", "-q", "--filter",
                            f"label=runyard.run={first}").stdout.decode().strip()
    assert retried["resume_from"] == f"/runyard/resume/{volume}/code/checkpoints/epoch2.json", \
        "the failed attempt's volume, mounted read-only: nothing copied"
    assert "at epoch 2" in cli("logs", str(second)).stdout

    local = cli.launch(*TRAIN, opts=("--checkpoints", "checkpoints"))
    cli.wait_state(local, "succeeded", timeout=60)
    moved = int(cli("clone", str(local), "--resume", "--target", "remote",
                    "--set", "epochs=4").stdout)
    done = cli.wait_state(moved, "succeeded", timeout=120)
    assert done["resume_from"] == "/runyard/resume/checkpoints/epoch3.json", "copied in"
    log = cli("logs", str(moved)).stdout
    assert "resumed from /runyard/resume/checkpoints/epoch3.json at epoch 3" in log
    assert "epoch 4 done" in log and "epoch 1 done" not in log

    write_targets(cli.cwd, f'[targets.near]\nkind = "docker"\nimage = "{python_image}"\n'
                           f'host = "{dockerd.url}"\n')
    mounted = int(cli("clone", str(local), "--resume", "--target", "near",     # another
                      "--set", "epochs=4", "--force").stdout)    # engine, the same spec key
    assert mounted != moved
    near = cli.wait_state(mounted, "succeeded", timeout=120)
    assert near["resume_from"] == "/runyard/resume/epoch3.json", \
        "a local engine's container gets this machine's checkpoint bind-mounted, not copied"
    assert "at epoch 3" in cli("logs", str(mounted)).stdout
