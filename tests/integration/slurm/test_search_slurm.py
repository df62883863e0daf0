"""An adaptive search on the real Slurm test cluster: its trials in flight are jobs, a pruned
trial's job is ended, and an engine killed mid-search goes on from the store."""

import os
import signal

from tests.helpers import process_alive, wait_for
from tests.searches import (constant, group_runs, launch_search,
                            trials, wait_ended)


def test_a_search_on_slurm_runs_trials_as_jobs_and_survives_an_engine_kill(slurm, cli):
    slurm.configure(slurm.target(cpus=1, memory="50M"))
    group = launch_search(cli, constant(steps=30, pause=0.1), "--search", "tpe",
                          "--objective", "val_loss", "--trials", "6", "--parallel", "2",
                          "--prune", "asha", "--seed", "6", space=("x=uniform(0,100)",),
                          target="cluster")
    gid = group["id"]
    wait_for(lambda: any(slurm.job(t["run"]) for t in trials(cli.env, gid)), timeout=60,
             what="a trial submitted as a job")
    wait_for(lambda: sum(t["state"] != "running" for t in trials(cli.env, gid)) >= 2,
             timeout=120, what="two trials told")
    engine = cli.engine_pid()
    os.kill(engine, signal.SIGKILL)
    wait_for(lambda: not process_alive(engine), what="the engine to die")
    cli("status")                                  # revives it: it follows the jobs again
    done = wait_ended(cli, gid, timeout=180)["search"]
    found = trials(cli.env, gid)
    runs = {r["id"]: r for r in group_runs(cli, gid)}
    assert [t["number"] for t in found] == list(range(len(found)))
    assert sorted(runs) == sorted(t["run"] for t in found), "no trial repeated or lost"
    assert done["done"] == 6 and {t["state"] for t in found} <= {"complete", "pruned"}
    assert done["pruned"], "trials behind the best were pruned"
    for trial in found:
        run = runs[trial["run"]]
        assert run["target"] == "cluster" and slurm.job(run["id"]), "each trial was a job"
        if trial["state"] == "pruned":
            assert (run["state"], run["cause"]) == ("stopped", "pruned")
            assert run["reason"].startswith("pruned at step ")
            # SIGTERM to the job's tree ends it (FAILED), or the scancel after the grace does
            assert slurm.cluster.job_field(slurm.job(run["id"]), "JobState") in \
                ("CANCELLED", "FAILED"), "the pruned trial's job is over"
        else:
            assert run["state"] == "succeeded" and trial["value"] == trial["params"]["x"]
    assert done["best"]["value"] == min(t["value"] for t in found if t["state"] == "complete")
