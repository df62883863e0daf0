"""A remote Docker engine's run files (the engine reached over TCP, so the code is copied in):
kept in a volume after the container goes, listed and pulled byte-identical, a second pull
sends nothing, declared outputs come here when the run ends, `tui rm` removes the volume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import wait_for
from tests.integration.docker_fixtures import write_targets
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
