"""An adaptive search whose trials are containers on a real Docker engine: the pruner reads
the output copied from Docker's log and a pruned trial's container is stopped."""

from tests.daemons.docker_fixtures import write_targets
from tests.searches import (constant, group_runs, launch_search, pruned_reason, trials,
                            wait_ended)


def test_a_search_in_containers_prunes_and_completes_its_budget(cli, dockerd, busybox_image):
    write_targets(cli.cwd, f'[targets.box]\nkind = "docker"\nimage = "{busybox_image}"\n'
                           f'host = "{dockerd.url}"\nmax_parallel = 2\n')
    group = launch_search(cli, constant(steps=40, pause=0.05), "--search", "random",
                          "--objective", "val_loss", "--trials", "5", "--parallel", "2",
                          "--prune", "asha", "--seed", "3", target="box")
    done = wait_ended(cli, group["id"], timeout=120)["search"]
    found = trials(cli.env, group["id"])
    runs = {r["id"]: r for r in group_runs(cli, group["id"])}
    assert done["done"] == 5 and sorted(runs) == sorted(t["run"] for t in found)
    assert {r["target"] for r in runs.values()} == {"box"}
    pruned = [t for t in found if t["state"] == "pruned"]
    assert pruned and done["pruned"] == len(pruned), "trials behind the best are pruned"
    for trial in found:
        run = runs[trial["run"]]
        if trial["state"] == "pruned":
            assert (run["state"], run["cause"]) == ("stopped", "pruned")
            assert pruned_reason(run["reason"]) == trial["params"]["x"]
        else:
            assert run["state"] == "succeeded" and trial["value"] == trial["params"]["x"]
