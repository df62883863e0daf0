"""The database: migrations are numbered steps, and an old store still opens."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from core.store import db, metric_queries
from core.store import queries as runs
from core.errors import StoreError
from core.engine.launching import PlannedRun
from core.store.ledger import Ledger
from core.models import RunState
from core.requests import RunPolicy

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "store-v1.db"


def test_a_store_written_by_schema_1_still_opens(tmp_path):
    path = tmp_path / "runyard.db"
    shutil.copy(FIXTURE, path)
    ledger = Ledger.open(path)
    assert db.schema_version(ledger.conn) == len(db.MIGRATIONS)
    listed = runs.list_runs(ledger.conn, all_runs=True)
    assert [(r.id, r.state) for r in listed] == [(1, RunState.SUCCEEDED), (2, RunState.FAILED),
                                                 (3, RunState.SUCCEEDED)]
    assert listed[0].spec.name == "fixture-a" and listed[0].spec.tags == ["old"]
    assert listed[2].spec.parent == 1 and listed[2].spec.params["lr"] == 0.1
    shown = [json.loads(text) for text in runs.runs_json(ledger.conn, all_runs=True)]
    assert shown[1]["exit_code"] == 2 and "loss" in shown[0]["metrics"]
    assert metric_queries.metric_series(ledger.conn, 1)["loss"]


def test_migrating_a_new_store_and_again_is_a_no_op(tmp_path):
    conn = db.connect(tmp_path / "new.db", write=True)
    assert db.migrate(conn) == len(db.MIGRATIONS)
    assert db.migrate(conn) == len(db.MIGRATIONS)
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= \
        {"runs", "events", "metrics", "snapshots", "file_hashes", "targets"}


def test_a_store_from_a_newer_runyard_is_refused(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(db.MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="written by a newer runyard"):
        db.check_readable(db.connect(path))


def test_illegal_transitions_are_refused(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "runyard.db")
    ledger = Ledger.open(tmp_path / "runyard.db")
    with pytest.raises(StoreError, match="cannot go from succeeded to running"):
        ledger.transition(1, RunState.RUNNING)


def test_runs_of_a_schema_1_store_read_with_the_workflow_fields(tmp_path):
    path = tmp_path / "runyard.db"
    shutil.copy(FIXTURE, path)
    ledger = Ledger.open(path)
    shown = [json.loads(text) for text in runs.runs_json(ledger.conn, all_runs=True)]
    assert [(r["attempt"], r["retry_of"], r["retried_as"], r["group"], r["depends_on"],
             r["retries"], r["stop_if"], r["cause"]) for r in shown] == \
        [(1, None, None, None, [], 0, [], None)] * 3
    run = runs.get_run(ledger.conn, 1)
    assert run.spec.policy == RunPolicy(after=[], retries=0, retry_delay=5.0)
    assert run.spec_key is None
    assert ledger.conn.execute("SELECT count(*) FROM groups").fetchone()[0] == 0
    assert ledger.conn.execute("SELECT count(*) FROM watches").fetchone()[0] == 0


def test_a_runs_detail_is_kept_only_while_it_runs(tmp_path):
    path = tmp_path / "runyard.db"
    shutil.copy(FIXTURE, path)
    ledger = Ledger.open(path)
    assert {json.loads(t)["detail"] for t in runs.runs_json(ledger.conn, all_runs=True)} == {None}
    ledger.set_detail(1, "job 5 pending (Priority)", "Slurm: job 5 pending (Priority)")
    assert runs.get_run(ledger.conn, 1).detail is None, "a finished run has no live detail"
    messages = [e["message"] for e in runs.events(ledger.conn, 1)]
    assert "Slurm: job 5 pending (Priority)" not in messages
    planned = PlannedRun(spec=runs.get_run(ledger.conn, 1).spec, options={}, key="k")
    [run_id] = ledger.insert_batch([(planned, None)], [], snapshot=None, project="/p",
                                   workdir="", git_commit=None, git_diff=None, git_dirty=False,
                                   base_env=None)
    ledger.transition(run_id, RunState.RUNNING)
    ledger.set_detail(run_id, "job 5 pending (Priority)", "Slurm: job 5 pending (Priority)")
    assert runs.run_json(ledger.conn, run_id)["detail"] == "job 5 pending (Priority)"
    assert runs.events(ledger.conn, run_id)[-1]["message"] == "Slurm: job 5 pending (Priority)"
    ledger.transition(run_id, RunState.SUCCEEDED)
    assert runs.run_json(ledger.conn, run_id)["detail"] is None


def test_the_stored_json_of_a_run_follows_every_change(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "runyard.db")
    ledger = Ledger.open(tmp_path / "runyard.db")
    conn = ledger.conn

    def same() -> bool:
        stored = [r[0] for r in conn.execute("SELECT json FROM runs ORDER BY id")]
        built = [r[0] for r in conn.execute(f"SELECT {runs.RUN_JSON_SQL} FROM runs ORDER BY id")]
        return stored == built and None not in stored

    assert same(), "filled when the store was migrated"
    planned = PlannedRun(spec=runs.get_run(conn, 1).spec, options={}, key="k")
    [run_id] = ledger.insert_batch([(planned, None)], [], snapshot=None, project="/p", workdir="",
                                   git_commit=None, git_diff=None, git_dirty=False, base_env=None)
    assert same()
    ledger.transition(run_id, RunState.RUNNING, gpu_ids=[1])
    ledger.set_handle(run_id, {"pid": 1})            # a column the JSON does not show
    ledger.add_metrics(run_id, [("loss", 0, 0.5)], {"loss": 0.5}, {})
    ledger.transition(run_id, RunState.FAILED, reason="exit code 3", exit_code=3)
    assert same()
    shown = runs.run_json(conn, run_id)
    assert (shown["state"], shown["gpus"], shown["metrics"]) == ("failed", [1], {"loss": 0.5})
