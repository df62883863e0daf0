"""`tui rm`: ended runs go with their folders; active or still-needed runs are refused."""

import json
import sqlite3
from pathlib import Path

from tests.helpers import wait_for


def _ids(proc) -> list[int]:
    return [int(line) for line in proc.stdout.split()]


def _rows(env, table: str, column: str, run_id: int) -> int:
    with sqlite3.connect(Path(env["RUNYARD_HOME"]) / "runyard.db") as conn:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?",
                            (run_id,)).fetchone()[0]


def test_removing_ended_runs_deletes_their_records_and_folders(cli, env):
    ok = cli.launch("sh", "-c", "echo loss=0.5; echo kept")
    bad = cli.launch("sh", "-c", "echo loss=0.9; chmod -w .; exit 3")   # a read-only folder
    cli("wait", str(ok))
    cli("wait", str(bad), check=False)
    run_dir = Path(env["RUNYARD_HOME"]) / "runs" / str(bad)
    assert run_dir.is_dir() and _rows(env, "metrics", "run_id", bad) == 1
    proc = cli("rm", str(bad))
    assert _ids(proc) == [bad] and "removed 1 run" in proc.stderr
    assert not run_dir.exists()
    assert _rows(env, "metrics", "run_id", bad) == 0 and _rows(env, "events", "run_id", bad) == 0
    assert [r["id"] for r in cli.json("status", "--json", "--all")["runs"]] == [ok]
    gone = cli("show", str(bad), check=False)
    assert gone.returncode == 3 and f"run {bad} was removed at" in gone.stderr
    assert cli("logs", str(ok)).stdout == "loss=0.5\nkept\n", "the other run is untouched"
    again = cli.launch("true", opts=("--force",))
    assert again == bad + 1, "a removed run's id is not given out again"
    cli("wait", str(again))
    out = cli.json("rm", "last", str(ok), "--json")                 # last: the newest run
    assert [r["id"] for r in out["removed"]] == [ok, again] and out["freed_bytes"] > 0
    assert cli.json("status", "--json", "--all")["runs"] == []
    newest = cli.launch("true", opts=("--force",))
    assert newest == again + 1


def test_active_and_still_needed_runs_are_refused_and_nothing_is_removed(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 1\n")
    done = cli.launch("true")
    cli("wait", str(done))
    long = cli.launch("sleep", "300")
    wait_for(lambda: cli.run(long)["state"] == "running", what="the long run to start")
    waiting = cli.launch("true", "again", opts=("--after", str(done)))
    assert cli.run(waiting)["state"] == "queued"
    before = cli.json("status", "--json", "--all")["runs"]
    refused = cli("rm", str(done), str(long), check=False)
    assert refused.returncode == 2 and f"run {long} is running" in refused.stderr
    assert f"tui cancel {long}" in refused.stderr and refused.stdout == ""
    needed = cli("rm", str(done), check=False)
    assert needed.returncode == 2
    assert f"run {done} is still needed by run {waiting}, which is queued" in needed.stderr
    unknown = cli("rm", str(done), "999", check=False)
    assert unknown.returncode == 3 and "no run with id 999" in unknown.stderr
    assert cli.json("status", "--json", "--all")["runs"] == before
    cli("cancel", str(long))
    cli("wait", str(waiting))
    assert _ids(cli("rm", str(done), str(long), str(waiting))) == [done, long, waiting]


def test_a_run_is_kept_while_its_next_attempt_has_not_ended(cli, tmp_path):
    go = tmp_path / "go"
    script = f'[ -f {go} ] && exit 0; touch {go}.seen; exit 1'
    first = cli.launch("sh", "-c", f'if [ -f {go}.seen ]; then while [ ! -f {go} ]; do '
                                   f'sleep 0.05; done; exit 0; fi; {script}',
                       opts=("--retries", "1", "--retry-delay", "0"))
    wait_for(lambda: cli.run(first)["retried_as"] is not None, what="the retry")
    second = cli.run(first)["retried_as"]
    refused = cli("rm", str(first), check=False)
    assert refused.returncode == 2 and f"still needed by run {second}" in refused.stderr
    go.write_text("")
    cli("wait", str(first))
    assert json.loads(cli("rm", str(first), "--json").stdout)["removed"][0]["id"] == first


def test_a_clone_outlives_its_removed_parent_and_still_names_it(cli, tmp_path):
    go = tmp_path / "go"
    parent = cli.launch("sh", "-c", "[ {wait} = 0 ] || while [ ! -f {wait} ]; do sleep 0.05; done",
                        opts=("--set", "wait=0"))
    cli("wait", str(parent))
    child = int(cli("clone", str(parent), "--set", f"wait={go}").stdout)
    wait_for(lambda: cli.run(child)["state"] == "running", what="the clone to run")
    cli("rm", str(parent))
    go.write_text("")
    done = cli.wait_state(child, "succeeded")
    assert done["parent"] == parent, "lineage keeps the removed run's id"
    assert "was removed" in cli("show", str(parent), check=False).stderr
