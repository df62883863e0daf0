"""A store whose database is lost, damaged, replaced or deleted under the engine: run ids are
never given out twice, and `tui engine repair` rebuilds the runs from their folders."""

import hashlib
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from core.client import START_TIMEOUT
from tests.helpers import process_alive, wait_for


def _home(cli) -> Path:
    return Path(cli.env["RUNYARD_HOME"])


def _folder_digest(folder: Path) -> dict[str, str]:
    """Every file under a run folder and its content hash."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _remove_database(home: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(home / "runyard.db") + suffix).unlink(missing_ok=True)


def _four_runs(cli, project) -> tuple[int, int, int, int]:
    """A run that succeeded with metrics, one that failed, one still running (until a file
    appears in its folder) and one cancelled."""
    ok = cli.launch("sh", "-c", "echo loss=1.5; echo loss=0.25")
    bad = cli.launch("sh", "-c", "echo broken; exit 3")
    going = cli.launch("sh", "-c", "while [ ! -e go ]; do sleep 0.1; done; echo done; exit 4")
    cancelled = cli.launch("sleep", "60")
    cli("wait", str(ok), str(bad), check=False)
    cli.wait_state(cancelled, "running")
    cli("cancel", str(cancelled))
    cli.wait_state(going, "running")
    return ok, bad, going, cancelled


def test_a_lost_database_refuses_new_runs_until_repair_rebuilds_them(cli, env, project):
    ok, bad, going, cancelled = _four_runs(cli, project)
    cli("engine", "stop")
    home = _home(cli)
    ended = {run_id: _folder_digest(home / "runs" / str(run_id)) for run_id in (ok, bad, cancelled)}
    _remove_database(home)

    status = cli("status", check=False)
    assert status.returncode == 6, status.stdout + status.stderr
    assert "is missing, but" in status.stderr and "hint: rebuild it: tui engine repair" in status.stderr
    began = time.monotonic()
    launch = cli("launch", "--", "true", check=False)
    assert launch.returncode == 6 and "4 run folders (1, 2, 3, 4)" in launch.stderr, launch.stderr
    assert time.monotonic() - began < START_TIMEOUT / 2, "the engine's refusal came back at once"
    assert not (home / "runyard.db").exists() and not (home / "runs" / "5").exists()

    report = cli.json("engine", "repair", "--json")["repair"]
    assert report["recovered"] == [ok, bad, going, cancelled]
    runs = {r["id"]: r for r in cli.json("status", "--all", "--json")["runs"]}
    assert (runs[ok]["state"], runs[ok]["exit_code"]) == ("succeeded", 0)
    assert (runs[bad]["state"], runs[bad]["exit_code"], runs[bad]["reason"]) == \
        ("failed", 3, "exit code 3")
    assert runs[cancelled]["state"] == "cancelled"
    assert runs[going]["state"] == "running"
    assert runs[ok]["command"] == ["sh", "-c", "echo loss=1.5; echo loss=0.25"]
    assert cli.json("metrics", str(ok), "--json")["metrics"]["loss"] == [[0, 1.5], [1, 0.25]]
    assert "broken" in cli("logs", str(bad)).stdout
    # The run that was still going is supervised again and ends with its true code.
    (home / "runs" / str(going) / "code" / "go").touch()
    finished = cli.wait_state(going, "failed")
    assert finished["exit_code"] == 4 and "done" in cli("logs", str(going)).stdout
    assert cli.launch("true", opts=("--force",)) == cancelled + 1, "no id is given out twice"
    assert {run_id: _folder_digest(home / "runs" / str(run_id)) for run_id in ended} == ended, \
        "repair changes nothing in a run folder"


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_database_is_named_set_aside_and_rebuilt(cli, env, project, damage):
    ok = cli.launch("sh", "-c", "echo loss=2")
    bad = cli.launch("sh", "-c", "exit 5")
    cli("wait", str(ok), str(bad), check=False)
    cli("engine", "stop")
    home = _home(cli)
    db = home / "runyard.db"
    if damage == "garbage":
        _remove_database(home)
        db.write_bytes(os.urandom(64 * 1024))
    else:
        size = db.stat().st_size
        with open(db, "r+b") as handle:
            handle.truncate(size // 8)
    for args in (["status"], ["show", str(ok)], ["launch", "--", "true"]):
        began = time.monotonic()
        proc = cli(*args, check=False)
        assert proc.returncode == 6, (args, proc.stdout, proc.stderr)
        assert "is damaged" in proc.stderr and "tui engine repair" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        assert time.monotonic() - began < START_TIMEOUT / 2
    report = cli.json("engine", "repair", "--json")["repair"]
    assert report["damaged"].startswith("runyard.db.damaged-")
    assert (home / report["damaged"].split(" ")[0]).exists(), "the damaged file is kept"
    assert report["recovered"] == [ok, bad]
    runs = {r["id"]: r for r in cli.json("status", "--all", "--json")["runs"]}
    assert (runs[ok]["state"], runs[bad]["exit_code"]) == ("succeeded", 5)
    assert cli.launch("true", opts=("--force",)) == bad + 1


def test_an_older_copy_of_the_database_does_not_hand_out_ids_again(cli, env, project):
    first = cli.launch("true")
    cli("wait", str(first))
    home = _home(cli)
    backup = home.parent / "backup.db"
    source = sqlite3.connect(home / "runyard.db")
    target = sqlite3.connect(backup)
    source.backup(target)
    target.close()
    source.close()
    later = [cli.launch("sh", "-c", f"echo run {n}") for n in (2, 3)]
    cli("wait", *map(str, later))
    cli("engine", "stop")
    _remove_database(home)
    os.replace(backup, home / "runyard.db")         # a user puts back yesterday's copy

    proc = cli("launch", "--", "true", check=False)
    assert proc.returncode == 6, proc.stderr
    assert "does not know 2 run folders (2, 3)" in proc.stderr and "tui engine repair" in proc.stderr
    assert cli.json("engine", "repair", "--json")["repair"]["recovered"] == later
    assert "run 3" in cli("logs", str(later[1])).stdout
    assert cli.launch("true", opts=("--force",)) == later[1] + 1


def test_a_database_deleted_under_the_running_engine_is_noticed(cli, env, project):
    going = cli.launch("sh", "-c", "while [ ! -e go ]; do sleep 0.1; done; exit 0")
    cli.wait_state(going, "running")
    pid = cli.engine_pid()
    home = _home(cli)
    (home / "runyard.db").unlink()                  # a user's mistake: the engine holds it open

    proc = cli("launch", "--", "true", check=False)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert "was deleted while the engine ran" in proc.stderr or "is missing" in proc.stderr
    wait_for(lambda: not process_alive(pid), what="the engine to stop")
    saved = sorted(home.glob("runyard.db.saved-*"))
    assert saved, "the engine saved what it held"
    assert cli("status", check=False).returncode == 6

    report = cli.json("engine", "repair", "--json")["repair"]
    assert report["started_from"] == saved[-1].name + ".used"
    assert cli.run(going)["state"] == "running"
    (home / "runs" / str(going) / "code" / "go").touch()
    assert cli.wait_state(going, "succeeded")["exit_code"] == 0
    assert cli.launch("true", opts=("--force",)) == going + 1
    events = [e["message"] for e in cli.json("show", str(going), "--json")["events"]]
    assert events[0].startswith("queued"), "its history came back with the saved copy"


def test_repair_refuses_while_an_engine_serves_the_store(cli, env, project):
    cli("wait", str(cli.launch("true")))
    proc = cli("engine", "repair", check=False)
    assert proc.returncode == 5 and "stop it first: tui engine stop" in proc.stderr
    os.kill(cli.engine_pid(), signal.SIGTERM)
