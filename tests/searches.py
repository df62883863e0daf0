"""Shared by the search tests of every target kind: launching a search through the real CLI,
and reading its progress and its trials as the store keeps them."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import sys
from pathlib import Path

from tests.helpers import EXAMPLES, wait_for

# A run whose objective is its param: `val_loss` = x at every step, printed STEPS times
# with a pause, so the engine reads it while it runs (a pruner can judge it mid-run).
CONSTANT = 'for i in $(seq 1 "$2"); do echo "step=$i val_loss=$1"; sleep "$3"; done'


def constant(steps: int = 40, pause: float = 0.05) -> tuple[str, ...]:
    return ("sh", "-c", CONSTANT, "objective", "{x}", str(steps), str(pause))


# `val_loss` = x + 1/step: falls as it goes, in the same order as x at every step.
FALLING = ("import sys, time\nx = float(sys.argv[1])\nfor i in range(1, 41):\n"
           "    print(f'step={i} val_loss={x + 1 / i}', flush=True)\n    time.sleep(0.05)\n")


def falling() -> tuple[str, ...]:
    return (sys.executable, "-c", FALLING, "{x}")


def launch_search(cli, command, *options: str, space=("x=int(1,100)",), target=None) -> dict:
    """`tui launch --search ...`: the reply as JSON (its first trials, the search group)."""
    sweeps = tuple(x for axis in space for x in ("--sweep", axis))
    where = ("--target", target) if target else ()
    reply = cli.json("launch", *options, *sweeps, *where, "--json", "--", *command)
    return next(g for g in reply["groups"] if g["kind"] == "search")


def search(cli, group_id: int) -> dict:
    found = cli.json("search", "list", "--json")["searches"]
    return next(g for g in found if g["id"] == group_id)


def wait_ended(cli, group_id: int, *states: str, timeout: float = 90) -> dict:
    """Wait until the search is in one of `states` with no trial in flight."""
    wanted = states or ("finished",)
    return wait_for(lambda: (g := search(cli, group_id))["search"]["state"] in wanted
                    and not g["search"]["running"] and g, timeout=timeout,
                    what=f"search {group_id} to be {'/'.join(wanted)}")


def trials(env: dict, group_id: int) -> list[dict]:
    """The trials of a search as the store keeps them (number, run, params, state, value)."""
    db = Path(env["RUNYARD_HOME"]) / "runyard.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT number, run_id, params, state, value, result_run, reason "
                            "FROM trials WHERE group_id = ? ORDER BY number",
                            (group_id,)).fetchall()
    return [{"number": r[0], "run": r[1], "params": json.loads(r[2]), "state": r[3],
             "value": r[4], "result_run": r[5], "reason": r[6]} for r in rows]


def group_runs(cli, group_id: int) -> list[dict]:
    return cli.json("status", "--json", "--group", str(group_id))["runs"]


def pruned_reason(reason: str) -> int:
    """The value in an ASHA pruned run's reason, checking its form: rung R is at step 4**R
    (a minimum resource of 1 step, a reduction factor of 4). Which rung stops a trial that
    runs beside another depends on which of them reported there first, so tests with
    trials in parallel accept any rung."""
    found = re.fullmatch(r"pruned at step (\d+), rung (\d+) \(asha\): val_loss=(\d+)", reason)
    assert found is not None, reason
    step, rung, value = map(int, found.groups())
    assert step == 4 ** rung, reason
    return value


def pruned_search_on(cli, target: str) -> tuple[dict, dict]:
    """A 5-trial random search with ASHA on `target`, run to its end and checked the same way
    on every kind: each trial is a run there, pruned ones are `stopped` by `pruned` at their
    rung's value, the others succeeded with the objective they printed. Returns the pruned
    trials' runs and every run, by run id."""
    group = launch_search(cli, constant(steps=40, pause=0.05), "--search", "random",
                          "--objective", "val_loss", "--trials", "5", "--parallel", "2",
                          "--prune", "asha", "--seed", "3", target=target)
    done = wait_ended(cli, group["id"], timeout=120)["search"]
    found = trials(cli.env, group["id"])
    runs = {r["id"]: r for r in group_runs(cli, group["id"])}
    assert done["done"] == 5 and len(found) == 5 and sorted(runs) == sorted(t["run"] for t in found)
    assert {r["target"] for r in runs.values()} == {target}
    pruned = [t for t in found if t["state"] == "pruned"]
    assert pruned and done["pruned"] == len(pruned), "trials behind the best are pruned"
    for trial in found:
        run = runs[trial["run"]]
        if trial["state"] == "pruned":
            assert (run["state"], run["cause"]) == ("stopped", "pruned")
            assert pruned_reason(run["reason"]) == trial["params"]["x"]
        else:
            assert run["state"] == "succeeded" and trial["value"] == trial["params"]["x"]
    return {t["run"]: runs[t["run"]] for t in pruned}, runs


def with_objective(project: Path) -> Path:
    """The project with examples/search/objective.py (a run with a known optimum) in it."""
    shutil.copy(EXAMPLES / "search" / "objective.py", project / "objective.py")
    return project
