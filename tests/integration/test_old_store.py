"""A store written by an older runyard reads with every field: the CLI has the engine migrate it."""

import json
import shutil
from pathlib import Path

from core.requests import RunPolicy
from core.store import db, queries
from tests.helpers import REPO


def test_listing_an_old_store_migrates_it_first(cli, env):
    home = Path(env["RUNYARD_HOME"])
    home.mkdir(parents=True)
    shutil.copy(REPO / "tests" / "fixtures" / "store-v1.db", home / "runyard.db")
    runs = cli.json("status", "--json", "--all")["runs"]
    assert [r["id"] for r in runs] == [1, 2, 3]
    assert {r["detail"] for r in runs} == {None}


def test_an_old_store_reads_exactly_as_before(cli, env):
    """`tui status --json` and `tui show --json` of the schema-1 fixture, and each run's spec
    (policy included), equal what runyard printed before the run policy became one value
    (recorded at commit 54fd2ba in store-v1.expected.json; the store's folder is $HOME)."""
    home = Path(env["RUNYARD_HOME"])
    home.mkdir(parents=True)
    shutil.copy(REPO / "tests" / "fixtures" / "store-v1.db", home / "runyard.db")
    expected = json.loads((REPO / "tests" / "fixtures" / "store-v1.expected.json").read_text())
    assert _as_recorded(cli.json("status", "--json", "--all")) == expected["status"]
    for run_id, shown in expected["show"].items():
        text = cli("show", "--json", run_id).stdout.replace(str(home), "$HOME")
        assert _as_recorded(json.loads(text)) == shown
    conn = db.connect(home / "runyard.db")
    for run in queries.list_runs(conn, all_runs=True):
        spec = expected["specs"][str(run.id)]
        assert run.spec.policy == RunPolicy(
            after=spec.pop("depends_on"), retries=spec.pop("retries"),
            retry_on=spec.pop("retry_on"), retry_delay=spec.pop("retry_delay"),
            stop_if=spec.pop("stop_if"), checkpoints=spec.pop("checkpoints"), outputs=[])
        assert {name: getattr(run.spec, name) for name in spec} == spec


# Fields added to the JSON since the fixture was recorded (schema 1 only ever adds fields),
# with the values an old run has.
ADDED_TO_RUNS = {"outputs": [], "resume_point": None, "after_search": None, "after_groups": []}
ADDED_TO_SHOW = {"pulls": [], "trial": None}


def _as_recorded(data: dict) -> dict:
    """The JSON without the fields added since, after checking they hold the old runs' values."""
    for run in data.get("runs", [data["run"]] if "run" in data else []):
        for name, value in ADDED_TO_RUNS.items():
            assert run.pop(name) == value, name
    for name, value in ADDED_TO_SHOW.items():
        if "run" in data:
            assert data.pop(name) == value, name
    return data
