"""Adaptive searches through the real CLI and engine on the local target: the budget, trials
in flight, the objective, pruning, failures, stop and extend, plans and bad input."""

from pathlib import Path

from tests.helpers import epoch, process_alive, wait_for
from tests.searches import (falling, group_runs, launch_search,
                            trials, wait_ended, with_objective)

SPACE = ("lr=log(1e-4,1e-1)", "layers=int(2,8)", "opt=adam,sgd")
# For tests that count runs without a seed: two trials that drew the same x in a small
# space would be one run (the second a cache hit of the first), about 1 time in 100 per pair.
WIDE = ("x=int(1,1000000)",)
OBJECTIVE = ("python3", "objective.py", "--lr", "{lr}", "--layers", "{layers}", "--opt", "{opt}",
             "--steps", "8", "--delay", "0")


def test_a_search_completes_its_budget_with_parallel_trials_judged_by_their_objective(cli, project):
    with_objective(project)
    group = launch_search(cli, OBJECTIVE, "--search", "tpe", "--objective", "val_loss",
                          "--trials", "8", "--parallel", "2", "--seed", "5", space=SPACE)
    assert group["spec"] == {
        "space": {"lr": "log(1e-4,1e-1)", "layers": "int(2,8)", "opt": "adam,sgd"},
        "keys": ["lr", "layers", "opt"], "sampler": "tpe", "pruner": None,
        "objective": {"metric": "val_loss", "direction": "min", "summary": "last"},
        "seed": 5, "trials": 8, "parallel": 2}
    done = wait_ended(cli, group["id"])["search"]
    assert (done["done"], done["complete"], done["pruned"], done["failed"], done["budget"]) == \
        (8, 8, 0, 0, 8)
    runs = group_runs(cli, group["id"])
    found = trials(cli.env, group["id"])
    assert [t["number"] for t in found] == list(range(8))
    assert sorted(t["run"] for t in found) == [r["id"] for r in runs], "one run per trial"
    for trial, run in zip(found, runs):
        assert run["state"] == "succeeded" and run["params"]["lr"] == trial["params"]["lr"]
        assert 1e-4 <= trial["params"]["lr"] <= 1e-1 and 2 <= trial["params"]["layers"] <= 8
        assert f"--lr {trial['params']['lr']!r}" in " ".join(run["command"]), "exactly as sampled"
        assert trial["value"] == run["metrics"]["val_loss"], "the objective is its last value"
    best = min(found, key=lambda t: t["value"])
    assert done["best"] == {"trial": best["number"], "value": best["value"], "run": best["run"],
                            "params": best["params"]}
    for run in runs:                              # never more than --parallel in flight
        start = epoch(run["created_at"])
        flying = [r for r in runs if epoch(r["created_at"]) <= start < epoch(r["finished_at"])]
        assert len(flying) <= 2, (run["id"], [r["id"] for r in flying])
    line = cli("status", "--group", str(group["id"])).stdout.splitlines()[0]
    assert line.startswith(f"search {group['id']} objective: finished · 8/8 trials done · best "
                           f"val_loss {best['value']:.4g} (run {best['run']}: lr=")
    shown = cli.json("show", str(best["run"]), "--json")
    assert shown["trial"] == {"search": group["id"], "number": best["number"],
                              "state": "complete", "value": best["value"], "reason": None}
    assert shown["group"]["search"]["best"]["run"] == best["run"]
    assert f"trial      {best['number']} of search {group['id']}: complete, val_loss=" in \
        cli("show", str(best["run"])).stdout
    ranked = cli.json("compare", "--group", str(group["id"]), "--json")["runs"]
    assert ranked[0]["id"] == best["run"], "tui compare ranks the trials by the objective"
    other = 2 if best["params"]["layers"] != 2 else 3
    clone = cli.json("clone", str(best["run"]), "--set", f"layers={other}", "--json")["run"]
    assert (clone["parent"], clone["group"], clone["params"]["layers"]) == \
        (best["run"], None, other)
    assert clone["params"]["lr"] == best["params"]["lr"], "a trial clones like any run"
    assert wait_ended(cli, group["id"])["search"]["done"] == 8, "the clone is no trial"


def test_pruned_trials_are_stopped_like_a_stop_rule_and_count_in_the_budget(cli, env):
    group = launch_search(cli, falling(), "--search", "random", "--objective", "val_loss",
                          "--trials", "6", "--prune", "asha", "--seed", "3")
    done = wait_ended(cli, group["id"])["search"]
    found = trials(env, group["id"])
    pruned = [t for t in found if t["state"] == "pruned"]
    assert pruned, "with this seed, trials worse than the first at rung 0 are pruned"
    assert (done["done"], done["pruned"], done["complete"]) == (6, len(pruned), 6 - len(pruned))
    assert len(found) == 6, "a pruned trial counts: nothing more was asked"
    for trial in pruned:
        run = cli.run(trial["run"])
        x = trial["params"]["x"]
        assert (run["state"], run["cause"], run["exit_code"]) == ("stopped", "pruned", 143)
        assert run["reason"] == f"pruned at step 1, rung 0 (asha): val_loss={x + 1:.6g}"
        assert trial["reason"] == run["reason"]
        printed = cli.json("metrics", str(run["id"]), "--json")["metrics"]["val_loss"]
        assert len(printed) < 40, "stopped before its end"
        assert trial["value"] == x + 1 >= printed[-1][1], \
            "judged by the step the pruner saw, not what it printed until SIGTERM reached it"
        pid = int((Path(env["RUNYARD_HOME"]) / "runs" / str(run["id"]) / "pid").read_text())
        assert not process_alive(pid), "SIGTERM ended it"
        earlier = [t["params"]["x"] for t in found if t["number"] < trial["number"]
                   and t["state"] == "complete"]
        assert earlier and x > min(earlier), "only a trial behind the best is pruned"
    for trial in found:
        if trial["state"] == "complete":
            assert cli.run(trial["run"])["state"] == "succeeded"


def test_failed_trials_are_told_as_failures_and_replaced_until_the_budget_completes(cli, env):
    odd_fails = 'case $1 in *[13579]) echo "odd $1" >&2; exit 3;; esac; echo "val_loss=$1"'
    group = launch_search(cli, ("sh", "-c", odd_fails, "objective", "{x}"), "--search", "random",
                          "--objective", "val_loss", "--trials", "3", "--seed", "8")
    done = wait_ended(cli, group["id"])["search"]
    found = trials(env, group["id"])
    odd = [t for t in found if t["params"]["x"] % 2]
    assert odd, "with this seed some trials draw an odd x"
    assert (done["complete"], done["failed"], len(found)) == (3, len(odd), 3 + len(odd))
    for trial in odd:
        assert trial["state"] == "fail"
        assert trial["reason"] == f"run {trial['run']} failed: exit code 3"
    assert done["best"]["value"] == min(t["params"]["x"] for t in found if t not in odd)


def test_a_cancelled_trial_is_a_failure_and_another_trial_takes_its_place(cli, tmp_path):
    marker = tmp_path / "first-one-ran"
    sleepy = f'test -e {marker} || {{ touch {marker}; sleep 120; }}; echo "val_loss=$1"'
    group = launch_search(cli, ("sh", "-c", sleepy, "objective", "{x}"), "--search", "tpe",
                          "--objective", "val_loss", "--trials", "1", "--seed", "2")
    first = trials(cli.env, group["id"])[0]
    wait_for(marker.exists, what="the first trial to start")
    cli("cancel", str(first["run"]))
    done = wait_ended(cli, group["id"])["search"]
    found = trials(cli.env, group["id"])
    assert [t["state"] for t in found] == ["fail", "complete"]
    assert found[0]["reason"].startswith(f"run {first['run']} cancelled")
    assert (done["done"], done["failed"]) == (1, 1)


def test_trials_that_all_fail_end_the_search_instead_of_running_forever(cli):
    group = launch_search(cli, ("sh", "-c", "echo no metric here"), "--search", "tpe",
                          "--objective", "val_loss", "--trials", "20")
    ended = wait_ended(cli, group["id"], "failed")["search"]
    found = trials(cli.env, group["id"])
    assert len(found) == 5 and {t["state"] for t in found} == {"fail"}
    assert found[0]["reason"] == f"run {found[0]['run']} reported no val_loss"
    assert ended["reason"] == f"5 trials in a row failed (the last: run {found[-1]['run']} " \
                              "reported no val_loss)"


def test_stop_cancels_queued_trials_lets_running_ones_count_and_extend_goes_on(cli, project,
                                                                           tmp_path):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 1\n")
    gate = tmp_path / "go"
    wait_gate = f'while ! test -e {gate}; do sleep 0.05; done; echo "val_loss=$1"'
    group = launch_search(cli, ("sh", "-c", wait_gate, "objective", "{x}"), "--search", "tpe",
                          "--objective", "val_loss", "--trials", "10", "--parallel", "2",
                          space=WIDE)
    gid = str(group["id"])
    first, second = trials(cli.env, group["id"])
    wait_for(lambda: cli.run(first["run"])["state"] == "running", what="the first trial")
    assert cli.run(second["run"])["state"] == "queued", "one slot: the second waits"
    stop = cli("search", "stop", gid)
    assert "no more trials; 1 in flight finish and count" in stop.stderr
    assert cli.run(second["run"])["state"] == "cancelled"
    gate.touch()
    ended = wait_ended(cli, group["id"], "stopped")["search"]
    assert (ended["done"], ended["failed"], ended["reason"]) == \
        (1, 1, "stopped with tui search stop")
    assert len(trials(cli.env, group["id"])) == 2, "a stopped search asks nothing more"
    extended = cli("search", "extend", gid, "--trials", "2")
    new = [int(line) for line in extended.stdout.split()]
    assert len(new) == 2 and "budget now 12 trials (1 done), running" in extended.stderr
    assert wait_ended(cli, group["id"])["search"]["done"] == 12
    assert cli("search", "extend", "no-such-search", "--trials", "1", check=False).returncode == 3
    bad = cli("search", "extend", gid, "--trials", "0", check=False)
    assert bad.returncode == 2 and "expected 1 to" in bad.stderr


def test_a_dry_run_shows_the_plan_and_the_first_trials_a_launch_with_that_seed_asks(cli, project):
    with_objective(project)
    options = ("--search", "tpe", "--objective", "val_loss:min:best", "--trials", "12",
               "--parallel", "3", "--prune", "hyperband", "--seed", "21")
    sweeps = tuple(x for axis in SPACE for x in ("--sweep", axis))
    text = cli("launch", *options, *sweeps, "--dry-run", "--", *OBJECTIVE).stdout
    assert "search objective: tpe, hyperband pruning, val_loss:min (best value), 3 at once, " \
           "seed 21; 12 trials over lr=log(1e-4,1e-1) layers=int(2,8) opt=adam,sgd" in text
    plan = cli.json("launch", *options, *sweeps, "--dry-run", "--json", "--", *OBJECTIVE)["plan"]
    assert [g["kind"] for g in plan["groups"]] == ["search"]
    assert [r["action"] for r in plan["runs"]] == ["start"] * 3
    assert cli.json("status", "--json", "--all")["runs"] == [], "a dry run records nothing"
    group = launch_search(cli, OBJECTIVE, *options, space=SPACE)
    first = [run["params"] for run in group_runs(cli, group["id"])][:3]
    assert first == [run["params"] for run in plan["runs"]]
    cli("search", "stop", str(group["id"]), "--cancel")


def test_bad_search_options_are_refused_with_a_hint_and_record_nothing(cli):
    def refused(*options, code=2):
        proc = cli("launch", *options, "--", "true", check=False)
        assert proc.returncode == code, (options, proc.stderr)
        assert proc.stderr.startswith("error: ") and "hint: " in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        return proc.stderr

    base = ("--objective", "loss", "--trials", "4", "--sweep", "x=int(1,3)")
    assert "not a sampler" in refused("--search", "bayes", *base)
    assert "needs --objective" in refused("--search", "tpe", "--trials", "4", "--sweep", "x=1,2")
    assert "needs a space" in refused("--search", "tpe", "--objective", "loss", "--trials", "4")
    assert "expected 1 to" in refused("--search", "tpe", *base[:2], "--trials", "0", *base[4:])
    assert "not a pruner" in refused("--search", "tpe", *base, "--prune", "soon")
    assert "go with --search" in refused("--objective", "loss", "--sweep", "x=1,2")
    assert "--samples" in refused("--search", "tpe", *base, "--samples", "3")
    assert "not an objective" in refused("--search", "tpe", "--objective", "lo\x1bss",
                                         "--trials", "2", "--sweep", "x=1,2")
    assert "PyTorch" in refused("--search", "gp", *base)
    assert cli.json("status", "--json", "--all")["runs"] == []
    assert cli("search", "list").stderr.startswith("no searches")
    assert cli("search", "stop", "7", check=False).returncode == 3


def test_each_trial_gets_its_own_gpu_on_a_target_with_gpus(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\ngpus = [0, 1]\n")
    group = launch_search(cli, ("sh", "-c", 'echo "gpu=$CUDA_VISIBLE_DEVICES"; sleep 1; '
                                            'echo "val_loss=$1"', "objective", "{x}"),
                          "--search", "tpe", "--objective", "val_loss", "--trials", "4",
                          "--parallel", "2", "--gpus", "1", space=WIDE)
    wait_ended(cli, group["id"])
    runs = group_runs(cli, group["id"])
    assert len(runs) == 4 and all(len(r["gpus"]) == 1 and r["gpu_count"] == 1 for r in runs)
    for run in runs:
        assert cli("logs", str(run["id"])).stdout.startswith(f"gpu={run['gpus'][0]}\n")
    first, second = sorted(runs, key=lambda r: r["id"])[:2]
    assert first["gpus"] != second["gpus"], "two trials in flight never share a GPU"


def test_a_trial_is_retried_like_any_run_and_told_by_its_last_attempt(cli, tmp_path):
    marker = tmp_path / "failed-once"
    once = f'test -e {marker} || {{ touch {marker}; exit 1; }}; echo "val_loss=$1"'
    group = launch_search(cli, ("sh", "-c", once, "objective", "{x}"), "--search", "tpe",
                          "--objective", "val_loss", "--trials", "2", "--retries", "1",
                          "--retry-delay", "0", space=WIDE)
    done = wait_ended(cli, group["id"])["search"]
    first, second = trials(cli.env, group["id"])
    failed = cli.run(first["run"])
    assert failed["state"] == "failed" and failed["retried_as"] is not None
    assert (first["state"], first["result_run"]) == ("complete", failed["retried_as"])
    assert second["state"] == "complete" and (done["done"], done["failed"]) == (2, 0)
    assert len(group_runs(cli, group["id"])) == 3, "two trials, one of them in two attempts"


def test_a_trial_that_repeats_a_succeeded_run_is_not_run_again(cli):
    options = ("--search", "random", "--objective", "val_loss", "--trials", "2", "--seed", "5")
    command = ("sh", "-c", 'echo "val_loss=$1"', "objective", "{x}")
    space = ("x=int(1,1000000)",)
    first = launch_search(cli, command, *options, space=space)
    wait_ended(cli, first["id"])
    again = launch_search(cli, command, *options, space=space)
    done = wait_ended(cli, again["id"])["search"]
    assert [t["run"] for t in trials(cli.env, again["id"])] == \
        [t["run"] for t in trials(cli.env, first["id"])], "the same seed asks the same trials"
    assert done["done"] == 2 and group_runs(cli, again["id"]) == [], "told from the cache"
    forced = launch_search(cli, command, *options, "--force", space=space)
    wait_ended(cli, forced["id"])
    assert len(group_runs(cli, forced["id"])) == 2, "--force runs them again"


def test_failing_trials_answered_from_the_cache_still_end_the_search(cli):
    # Two values only: after two real runs, every trial is the cache's answer, told at once;
    # the search went on asking (20 trials) because only new runs were counted as failing.
    group = launch_search(cli, ("sh", "-c", "echo no metric here {x}"), "--search", "tpe",
                          "--objective", "val_loss", "--trials", "20", space=("x=int(1,2)",))
    ended = wait_ended(cli, group["id"], "failed")["search"]
    found = trials(cli.env, group["id"])
    assert len(found) == 5 and {t["state"] for t in found} == {"fail"}, found
    assert ended["reason"].startswith("5 trials in a row failed")
