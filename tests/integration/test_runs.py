"""Launching, watching and finishing runs on the local target, through the real CLI."""

import json
import sqlite3
from pathlib import Path

from tests.helpers import wait_for

RUN_FIELDS = {"id", "name", "state", "exit_code", "target", "gpus", "command", "params", "parent",
              "snapshot", "created_at", "started_at", "finished_at", "metrics"}


def test_launch_runs_and_records_everything(cli, project):
    run_id = cli.launch("python3", "train.py", "--lr", "0.2", "--epochs", "2", "--delay", "0",
                        opts=("--name", "first", "--tag", "demo", "--env", "EXTRA=1"))
    assert cli("wait", str(run_id)).returncode == 0
    run = cli.run(run_id)
    assert RUN_FIELDS <= set(run)
    assert run["state"] == "succeeded" and run["exit_code"] == 0
    assert run["name"] == "first" and run["tags"] == ["demo"] and run["env"] == {"EXTRA": "1"}
    assert run["command"] == ["python3", "train.py", "--lr", "0.2", "--epochs", "2", "--delay", "0"]
    assert run["params"] == {"lr": 0.2, "epochs": 2, "delay": 0}
    for stamp in ("created_at", "started_at", "finished_at"):
        assert run[stamp].endswith("Z") and "T" in run[stamp]
    assert set(run["metrics"]) >= {"loss", "acc", "val_loss", "val_acc", "epoch"}
    log = cli("logs", str(run_id)).stdout
    assert "epoch 2 done" in log and log.count("\n") >= 10
    series = cli.json("metrics", str(run_id), "--json")["metrics"]
    assert [p[0] for p in series["loss"]] == sorted(p[0] for p in series["loss"])
    assert series["val_loss"][-1][0] == 32        # the JSON-lines file carried the step
    history = [e["message"] for e in cli.json("show", str(run_id), "--json")["events"]]
    assert history[0] == "queued" and history[-1] == "succeeded"


def test_status_json_is_versioned_and_filters(cli):
    ok = cli.launch("true")
    bad = cli.launch("sh", "-c", "echo oops >&2; exit 3")
    cli("wait", str(ok), str(bad), check=False)
    data = cli.json("status", "--json")
    assert data["schema"] == 1
    assert {r["id"]: r["state"] for r in data["runs"]} == {ok: "succeeded", bad: "failed"}
    failed = cli.json("status", "--json", "--state", "failed")["runs"]
    assert [r["id"] for r in failed] == [bad] and failed[0]["exit_code"] == 3
    assert failed[0]["reason"] == "exit code 3"
    assert "oops" in cli("logs", str(bad)).stdout


def test_wait_exit_codes(cli):
    fails = cli.launch("sh", "-c", "exit 7")
    assert cli("wait", str(fails), check=False).returncode == 7
    ok = cli.launch("true")
    assert cli("wait", str(ok), str(fails), check=False).returncode == 1
    assert cli("wait", str(ok)).returncode == 0
    slow = cli.launch("sleep", "30")
    timed = cli("wait", str(slow), "--timeout", "0.5", check=False)
    assert timed.returncode == 124 and "timed out" in timed.stderr
    cli("cancel", str(slow))


def test_missing_command_is_a_failed_run_not_an_engine_error(cli):
    run_id = cli.launch("no-such-program-xyz", "--flag")
    cli("wait", str(run_id), check=False)
    run = cli.run(run_id)
    assert run["state"] == "failed" and run["exit_code"] == 127
    assert run["reason"] == "command not found: no-such-program-xyz"
    assert "command not found: no-such-program-xyz" in cli("logs", str(run_id)).stdout
    assert cli("engine", "status", "--json").stdout and cli.engine_pid()


def test_output_reaches_the_log_as_it_is_written(cli):
    run_id = cli.launch("sh", "-c", "echo first; echo err >&2; sleep 30")
    wait_for(lambda: "err" in cli("logs", str(run_id)).stdout, what="output while running")
    assert cli.run(run_id)["state"] == "running"
    cli("cancel", str(run_id))


def test_logs_tail_and_follow(cli):
    run_id = cli.launch("sh", "-c", "for i in $(seq 1 50); do echo line $i; done; sleep 0.5; echo last")
    followed = cli("logs", str(run_id), "-f", timeout=30).stdout
    assert followed.splitlines()[-1] == "last" and "line 1\n" in followed
    assert cli("logs", str(run_id), "--tail", "3").stdout == "line 49\nline 50\nlast\n"


def test_clone_with_changed_params_keeps_lineage(cli):
    parent = cli.launch("python3", "train.py", "--lr", "{lr}", "--epochs", "1", "--delay", "0",
                        opts=("--set", "lr=0.5"))
    cli("wait", str(parent))
    child = int(cli("clone", str(parent), "--set", "lr=0.05").stdout)
    cli("wait", str(child))
    data = cli.run(child)
    assert data["parent"] == parent and data["params"]["lr"] == 0.05
    assert data["command"][:4] == ["python3", "train.py", "--lr", "0.05"]
    assert data["snapshot"] == cli.run(parent)["snapshot"]
    assert "cloned from run" in cli.json("show", str(child), "--json")["events"][0]["message"]


def test_a_clone_keeps_its_parents_tags_unless_given_new_ones(cli):
    parent = cli.launch("true", opts=("--tag", "a", "--tag", "b", "--env", "K=1"))
    same = cli.run(int(cli("clone", str(parent), "--force").stdout))
    assert same["id"] != parent and same["parent"] == parent
    assert same["tags"] == ["a", "b"] and same["env"] == {"K": "1"}
    other = cli.run(int(cli("clone", str(parent), "--tag", "c", "--force").stdout))
    assert other["tags"] == ["c"] and other["env"] == {"K": "1"}


def test_clone_current_code_sees_edits_and_parent_code_does_not(cli, project):
    parent = cli.launch("python3", "-c", "print(open('train.py').read()[:20])")
    cli("wait", str(parent))
    (project / "train.py").write_text("EDITED = True\n")
    old = int(cli("clone", str(parent)).stdout)
    new = int(cli("clone", str(parent), "--code", "current").stdout)
    cli("wait", str(old), str(new))
    assert "EDITED" not in cli("logs", str(old)).stdout
    assert "EDITED" in cli("logs", str(new)).stdout


def test_run_env_has_runyard_variables(cli, project):
    run_id = cli.launch("sh", "-c", 'echo "id=$RUNYARD_RUN_ID unbuffered=$PYTHONUNBUFFERED"; echo "$RUNYARD_METRICS"')
    cli("wait", str(run_id))
    out = cli("logs", str(run_id)).stdout.splitlines()
    assert out[0] == f"id={run_id} unbuffered=1"
    assert out[1].endswith(f"runs/{run_id}/metrics.jsonl")


def test_run_folder_is_inside_the_store_and_nothing_outside(cli, env, project, tmp_path):
    run_id = cli.launch("sh", "-c", "echo hi > made-by-run.txt")
    cli("wait", str(run_id))
    assert not (project / "made-by-run.txt").exists()
    assert (Path(env["RUNYARD_HOME"]) / "runs" / str(run_id) / "code" / "made-by-run.txt").exists()


def test_the_database_is_readable_by_plain_sqlite(cli, env):
    cli("wait", str(cli.launch("true")))
    conn = sqlite3.connect(Path(env["RUNYARD_HOME"]) / "runyard.db")
    assert conn.execute("SELECT state FROM runs").fetchall() == [("succeeded",)]
    kinds = [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds == ["state", "state", "state"]
    assert json.loads(conn.execute("SELECT command FROM runs").fetchone()[0]) == ["true"]


def test_each_run_gets_its_own_launching_shells_environment(cli):
    script = 'echo "$SHELL_SAYS $RUNYARD_RUN_ID"'
    first = cli("launch", "--sweep", "i=range(0,2)", "--", "sh", "-c", script, "{i}",
                env={"SHELL_SAYS": "one"}).stdout.split()
    second = cli.launch("sh", "-c", script, env={"SHELL_SAYS": "two"})
    ids = [int(i) for i in first] + [second]
    assert cli("wait", *map(str, ids)).returncode == 0
    said = [cli("logs", str(run_id)).stdout for run_id in ids]
    assert said == [f"one {ids[0]}\n", f"one {ids[1]}\n", f"two {second}\n"]
