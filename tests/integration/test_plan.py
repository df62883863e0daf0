"""Plan preview (--dry-run): what would run, where, on which GPUs, cached or not; writes nothing."""

import hashlib
import os
from pathlib import Path


def _store_bytes(home: Path) -> dict:
    """Every byte of the store that holds data. Left out: the socket, the engine's own log,
    and runyard.db-shm, SQLite's shared-memory WAL index, which readers update by design."""
    out = {}
    for folder, _dirs, files in os.walk(home):
        for name in files:
            path = Path(folder, name)
            rel = path.relative_to(home).as_posix()
            if rel in ("engine.sock", "engine.log", "runyard.db-shm") or path.is_socket():
                continue
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_a_dry_run_writes_nothing_and_starts_nothing(cli, env, project):
    first = cli.launch("python3", "train.py", "--epochs", "1", "--delay", "0")
    cli("wait", str(first))
    (project / "new_module.py").write_text("VALUE = 42\n" * 100)   # content the store lacks
    home = Path(env["RUNYARD_HOME"])
    before = _store_bytes(home)
    for args in (["launch", "--dry-run", "--sweep", "lr=0.1,0.2,0.3", "--after", str(first),
                  "--retries", "2", "--stop-if", "loss is nan", "--", "python3", "train.py"],
                 ["launch", "--dry-run", "--json", "--", "python3", "train.py", "--epochs", "1",
                  "--delay", "0"],
                 ["clone", str(first), "--dry-run", "--code", "current", "--set", "lr=1"],
                 ["launch", "--dry-run", "--watch", ".", "--", "true"]):
        cli(*args)
    assert _store_bytes(home) == before, "a dry run changed the store"
    assert [r["id"] for r in cli.json("status", "--json", "--all")["runs"]] == [first]
    assert not (home / "runs" / str(first + 1)).exists()
    assert cli("watch", "list").stderr.startswith("no watches")


def test_the_plan_shows_commands_params_placement_and_the_snapshot(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\ngpus = [0, 1]\nmax_parallel = 4\n")
    plan = cli.json("launch", "--dry-run", "--json", "--gpus", "1", "--sweep", "lr=0.1,0.01,0.001",
                    "--", "python3", "train.py", "--lr", "{lr}")["plan"]
    runs = plan["runs"]
    assert [r["command"] for r in runs] == [["python3", "train.py", "--lr", v]
                                            for v in ("0.1", "0.01", "0.001")]
    assert [r["params"] for r in runs] == [{"lr": 0.1}, {"lr": 0.01}, {"lr": 0.001}]
    assert [(r["action"], r["gpus"]) for r in runs] == [("start", [0]), ("start", [1]),
                                                        ("queue", None)]
    assert all(r["target"] == "local" and r["gpu_count"] == 1 for r in runs)
    assert plan["counts"] == {"start": 2, "queue": 1}
    snap = plan["snapshot"]
    files = [p for p in project.iterdir() if p.is_file()]
    assert snap["file_count"] == len(files)
    assert snap["total_bytes"] == sum(p.stat().st_size for p in files)
    assert snap["new_files"] == len(files), "nothing is stored yet"
    assert plan["groups"][0]["kind"] == "sweep"
    text = cli("launch", "--dry-run", "--gpus", "1", "--sweep", "lr=0.1,0.01,0.001", "--",
               "python3", "train.py", "--lr", "{lr}").stdout
    assert "3 runs (2 start now, 1 queued)" in text and "starts now on GPU 1" in text
    assert "python3 train.py --lr 0.001" in text and f"{len(files)} files" in text


def test_the_plan_marks_cached_runs_and_the_real_launch_agrees(cli):
    done = cli.launch("python3", "train.py", "--lr", "0.1", "--epochs", "1", "--delay", "0")
    cli("wait", str(done))
    plan = cli.json("launch", "--dry-run", "--json", "--sweep", "lr=0.1,0.2", "--", "python3",
                    "train.py", "--lr", "{lr}", "--epochs", "1", "--delay", "0")["plan"]
    assert [(r["action"], r["cached_run"]) for r in plan["runs"]] == [("cached", done),
                                                                     ("start", None)]
    reply = cli.json("launch", "--json", "--sweep", "lr=0.1,0.2", "--", "python3", "train.py",
                     "--lr", "{lr}", "--epochs", "1", "--delay", "0")
    assert reply["cached"] == [done] and [r["id"] for r in reply["runs"]] == [done, done + 1]
    forced = cli.json("launch", "--dry-run", "--json", "--force", "--sweep", "lr=0.1,0.2", "--",
                      "python3", "train.py", "--lr", "{lr}", "--epochs", "1", "--delay", "0")
    assert [r["action"] for r in forced["plan"]["runs"]] == ["start", "start"]


def test_a_clone_dry_run_and_dependencies_in_the_plan(cli):
    slow = cli.launch("sleep", "30")
    plan = cli.json("clone", str(slow), "--dry-run", "--json", "--after", str(slow))["plan"]
    (item,) = plan["runs"]
    assert item["action"] == "wait" and item["after"] == [slow] and item["command"] == \
        ["sleep", "30"]
    assert plan["snapshot"]["new_files"] == 0
    cli("cancel", str(slow))
    plan = cli.json("launch", "--dry-run", "--json", "--after", str(slow), "--", "true")["plan"]
    assert plan["runs"][0]["action"] == "fail"
    assert plan["runs"][0]["detail"] == f"dependency failed: run {slow} was cancelled"
