"""An adaptive search whose trials run on an SSH box (OpenSSH on loopback): the pruner reads
the output mirrored from the box and stops trials there."""

from tests.helpers import process_alive, wait_for
from tests.searches import (constant, group_runs, launch_search, pruned_reason, trials,
                            wait_ended)


def test_a_search_on_a_box_prunes_there_and_completes_its_budget(lab, cli):
    lab.configure(lab.target("box1"))
    group = launch_search(cli, constant(steps=40, pause=0.05), "--search", "random",
                          "--objective", "val_loss", "--trials", "5", "--parallel", "2",
                          "--prune", "asha", "--seed", "3", target="box1")
    done = wait_ended(cli, group["id"], timeout=120)["search"]
    found = trials(cli.env, group["id"])
    runs = {r["id"]: r for r in group_runs(cli, group["id"])}
    assert done["done"] == 5 and len(found) == 5 and sorted(runs) == sorted(t["run"] for t in found)
    assert {r["target"] for r in runs.values()} == {"box1"}
    pruned = [t for t in found if t["state"] == "pruned"]
    assert pruned and done["pruned"] == len(pruned), "trials behind the best are pruned"
    for trial in pruned:
        run = runs[trial["run"]]
        assert (run["state"], run["cause"]) == ("stopped", "pruned")
        assert pruned_reason(run["reason"]) == trial["params"]["x"]
        remote = lab.remote_run_dir(lab.box1, run["id"])
        assert (remote / "output.log").read_text() == cli("logs", str(run["id"])).stdout
        wait_for(lambda: not process_alive(lab.handle(run["id"])["pid"]), timeout=20,
                 what="the pruned trial's process on the box to be gone")
    for trial in found:
        if trial["state"] == "complete":
            assert runs[trial["run"]]["state"] == "succeeded"
            assert trial["value"] == trial["params"]["x"]
