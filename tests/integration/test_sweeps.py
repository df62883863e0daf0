"""Sweeps through the real CLI and engine: grids, seeded random search, files, big sweeps."""

import sqlite3
from pathlib import Path

from tests.helpers import wait_for


def _ids(proc) -> list[int]:
    return [int(line) for line in proc.stdout.split()]


def _all_done(cli, ids, state="succeeded", timeout=60):
    wanted = set(ids)
    wait_for(lambda: {r["id"] for r in cli.json("status", "--json", "--all")["runs"]
                      if r["state"] == state} >= wanted, timeout=timeout,
             what=f"runs {min(ids)}..{max(ids)} to be {state}")


def test_a_grid_sweep_is_one_group_with_one_snapshot(cli, env):
    ids = _ids(cli("launch", "--sweep", "lr=0.1,0.01,0.001", "--sweep", "bs=32,64", "--",
                   "python3", "train.py", "--lr", "{lr}", "--batch-size", "{bs}",
                   "--epochs", "1", "--delay", "0"))
    assert len(ids) == 6 and ids == list(range(ids[0], ids[0] + 6))
    _all_done(cli, ids)
    data = cli.json("status", "--json", "--all")
    runs = data["runs"]
    assert [(r["params"]["lr"], r["params"]["bs"]) for r in runs] == \
        [(lr, bs) for lr in (0.1, 0.01, 0.001) for bs in (32, 64)]
    assert runs[0]["command"][2:6] == ["--lr", "0.1", "--batch-size", "32"]
    group = runs[0]["group"]
    assert group is not None and {r["group"] for r in runs} == {group}
    assert len({r["snapshot"] for r in runs}) == 1
    (info,) = data["groups"]
    assert info["id"] == group and info["kind"] == "sweep" and info["runs"] == 6
    assert info["spec"]["keys"] == ["lr", "bs"] and info["spec"]["mode"] == "grid"
    assert [r["id"] for r in cli.json("status", "--json", "--group", str(group))["runs"]] == ids
    shown = cli.json("show", str(ids[0]), "--json")
    assert shown["group"]["id"] == group
    conn = sqlite3.connect(Path(env["RUNYARD_HOME"]) / "runyard.db")
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 1


def test_random_search_is_seeded_recorded_and_repeatable(cli):
    args = ("--samples", "5", "--sweep", "lr=log(1e-4,1e-1)", "--sweep", "layers=int(1,4)",
            "--sweep", "opt=adam,sgd")
    ids = _ids(cli("launch", *args, "--", "sh", "-c", "exit 0"))
    runs = [cli.run(i) for i in ids]
    assert len(runs) == 5
    assert all(1e-4 <= r["params"]["lr"] <= 1e-1 and 1 <= r["params"]["layers"] <= 4
               and r["params"]["opt"] in ("adam", "sgd") for r in runs)
    group = cli.json("show", str(ids[0]), "--json")["group"]
    seed = group["spec"]["seed"]
    assert isinstance(seed, int) and group["spec"]["samples"] == 5
    # The recorded seed gives the same points again (checked on a dry run: nothing recorded).
    plan = cli.json("launch", *args, "--seed", str(seed), "--dry-run", "--json", "--",
                    "sh", "-c", "exit 0")["plan"]
    assert [p["params"] for p in plan["runs"]] == [r["params"] for r in runs]
    assert len(cli.json("status", "--json", "--all")["runs"]) == 5


def test_a_sweep_from_a_toml_file(cli, project):
    (project / "sweep.toml").write_text(
        'command = "python3 train.py --epochs 1 --delay 0"\n'
        '[sweep]\nlr = [0.5, 0.05]\nseed = "range(0, 2)"\n')
    ids = _ids(cli("launch", "--file", "sweep.toml", "--tag", "fromfile"))
    assert len(ids) == 4
    _all_done(cli, ids)
    runs = [cli.run(i) for i in ids]
    assert [(r["params"]["lr"], r["params"]["seed"]) for r in runs] == \
        [(0.5, 0), (0.5, 1), (0.05, 0), (0.05, 1)]
    assert all(r["tags"] == ["fromfile"] for r in runs)
    assert runs[0]["command"] == ["python3", "train.py", "--epochs", "1", "--delay", "0",
                                  "--lr", "0.5", "--seed", "0"]


def test_two_hundred_runs_in_one_request(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 8\n")
    proc = cli("launch", "--json", "--sweep", "i=range(0,200)", "--", "sh", "-c", "exit 0")
    import json
    reply = json.loads(proc.stdout)
    ids = [r["id"] for r in reply["runs"]]
    assert ids == list(range(1, 201)) and reply["cached"] == []
    assert reply["groups"][0]["runs"] == 200
    _all_done(cli, ids, timeout=120)


def test_bad_sweeps_record_nothing(cli):
    proc = cli("launch", "--sweep", "lr=log(1e-4,1e-1)", "--", "true", check=False)
    assert proc.returncode == 2 and "give --samples N" in proc.stderr
    proc = cli("launch", "--samples", "3", "--", "true", check=False)
    assert proc.returncode == 2 and "need --sweep" in proc.stderr
    assert cli.json("status", "--json", "--all")["runs"] == []
