"""An engine killed with SIGKILL in the middle of a search: the restarted engine rebuilds the
study from the store and goes on, with no trial asked twice and none lost."""

import os
import signal
from pathlib import Path

from tests.helpers import process_alive, wait_for
from tests.searches import (constant, group_runs, launch_search,
                            trials, wait_ended)


def test_an_engine_killed_mid_search_goes_on_without_repeating_or_losing_a_trial(cli, env):
    group = launch_search(cli, constant(steps=20, pause=0.05), "--search", "tpe",
                          "--objective", "val_loss", "--trials", "10", "--parallel", "3",
                          "--prune", "asha", "--seed", "4", space=("x=uniform(0,100)",))
    gid = group["id"]
    wait_for(lambda: sum(t["state"] != "running" for t in trials(env, gid)) >= 3,
             timeout=60, what="three trials told")
    pid = cli.engine_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(pid), what="the engine to die")
    flying = [t for t in trials(env, gid) if t["state"] == "running"]
    assert flying, "trials were in flight when the engine died"
    runs = Path(env["RUNYARD_HOME"]) / "runs"
    wait_for(lambda: all((runs / str(t["run"]) / "exit_status").exists() for t in flying
                         if (runs / str(t["run"]) / "pid").exists()),
             timeout=30, what="the trials in flight to end while no engine runs")

    cli("status")                         # active runs and no engine: it is started again
    done = wait_ended(cli, gid)["search"]
    found = trials(env, gid)
    members = group_runs(cli, gid)
    assert [t["number"] for t in found] == list(range(len(found))), "numbers without a gap"
    assert sorted(t["run"] for t in found) == [r["id"] for r in members], \
        "every run of the search is one trial's, and every trial has one run"
    assert len({t["params"]["x"] for t in found}) == len(found), "no trial asked twice"
    assert {t["state"] for t in found} <= {"complete", "pruned"}, "none lost or failed"
    assert done["done"] == 10 == len(found)
    for trial in flying:
        run = cli.run(trial["run"])
        assert run["state"] in ("succeeded", "stopped") and run["state"] != "lost"
        told = next(t for t in found if t["number"] == trial["number"])
        assert told["result_run"] == trial["run"], "told from the run that ended meanwhile"
        if told["state"] == "complete":
            assert told["value"] == trial["params"]["x"]
    events = [e["message"] for t in flying for e in cli.json("show", str(t["run"]),
                                                             "--json")["events"]]
    assert "reattached after an engine restart" in events
