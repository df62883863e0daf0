"""Soak: a big sweep of trivial runs ends with every run in a true end state, none lost or
duplicated. 500 runs in the suite; with RUNYARD_SOAK=1 the same test runs 10,000."""

import json
import os
from pathlib import Path

import pytest

from tests.helpers import wait_for


def _soak(cli, project, runs: int, timeout: float) -> None:
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 8\n")
    marks = project.parent / "marks"
    marks.mkdir()
    # Each run leaves one file named by its param and run id; a run started twice leaves two.
    reply = cli.json("launch", "--json", "--sweep", f"i=range(0,{runs})", "--", "sh", "-c",
                     f'touch {marks}/"$1-$RUNYARD_RUN_ID"', "sh", "{i}", timeout=120)
    count = reply.get("count", len(reply.get("runs", [])))
    assert count == runs
    wait_for(lambda: _active(cli) == 0, timeout=timeout, interval=1.0, what=f"{runs} runs to end")
    listed = json.loads(cli("status", "--json", "--all", timeout=120).stdout)["runs"]
    assert len(listed) == runs and len({r["id"] for r in listed}) == runs
    assert {r["state"] for r in listed} == {"succeeded"}
    assert all(r["exit_code"] == 0 and r["started_at"] <= r["finished_at"] for r in listed)
    made = sorted(p.name for p in Path(marks).iterdir())
    assert len(made) == runs, "a run started twice, or never"
    assert sorted(int(name.split("-")[0]) for name in made) == list(range(runs))
    assert {int(name.split("-")[1]) for name in made} == {r["id"] for r in listed}


def _active(cli) -> int:
    counts = cli.json("engine", "status", "--json")["engine"]["runs"]
    return counts.get("queued", 0) + counts.get("running", 0)


@pytest.mark.soak
def test_a_big_sweep_ends_with_every_run_succeeded_once(cli, project):
    # 500 runs in the suite; RUNYARD_SOAK=1 makes it the 10,000-run soak (one test either
    # way: nothing is skipped).
    if os.environ.get("RUNYARD_SOAK") == "1":
        _soak(cli, project, 10_000, timeout=1800)
    else:
        _soak(cli, project, 500, timeout=300)
