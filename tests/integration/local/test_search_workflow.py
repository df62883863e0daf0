"""A workflow file with a search step: search, then train the best longer, then evaluate,
as one file; the later steps wait for the search and get its best trial's values."""

from tests.helpers import epoch
from tests.searches import trials, wait_ended, with_objective

FLOW = """
[[step]]
name = "tune"
command = "python3 objective.py --lr {lr} --layers {layers} --opt {opt} --steps 8 --delay 0"
search = "random"
objective = "val_loss"
trials = 4
parallel = 2
seed = 9
sweep = { lr = "log(1e-4,1e-1)", layers = "int(2,8)", opt = ["adam", "sgd"] }

[[step]]
name = "final"
after = ["tune"]
command = "python3 objective.py --lr {best.lr} --layers {best.layers} --opt {best.opt} --steps 20"

[[step]]
name = "evaluate"
after = ["final"]
command = "sh -c 'echo evaluating $RUNYARD_AFTER_DIRS'"
"""


def _runs_named(cli, name):
    return [r for r in cli.json("status", "--json", "--all")["runs"] if r["name"] == name]


def test_search_then_train_the_best_longer_then_evaluate_is_one_file(cli, project):
    with_objective(project)
    (project / "flow.toml").write_text(FLOW)
    plan = cli.json("launch", "--file", "flow.toml", "--dry-run", "--json")["plan"]
    assert [g["kind"] for g in plan["groups"]] == ["chain", "search"]
    waiting = [r for r in plan["runs"] if r["name"] == "final"]
    assert waiting[0]["action"] == "wait" and "search" in waiting[0]["detail"]
    reply = cli.json("launch", "--file", "flow.toml", "--json")
    search = next(g for g in reply["groups"] if g["kind"] == "search")
    (final,) = [r for r in reply["runs"] if r["name"] == "final"]
    assert final["after_search"] == search["id"] and final["state"] == "queued"
    ended = wait_ended(cli, search["id"])["search"]
    best = ended["best"]
    (evaluate,) = _runs_named(cli, "evaluate")
    done = cli.wait_state(evaluate["id"], "succeeded", timeout=90)
    final = cli.run(final["id"])
    assert final["state"] == "succeeded" and final["after_search"] is None
    assert final["params"]["lr"] == best["params"]["lr"] and \
        final["params"]["layers"] == best["params"]["layers"] and \
        final["params"]["opt"] == best["params"]["opt"]
    assert f"--lr {best['params']['lr']!r}" in " ".join(final["command"])
    assert final["env"]["RUNYARD_BEST_RUN_ID"] == str(best["run"])
    assert final["env"]["RUNYARD_BEST_RUN_DIR"].endswith(f"/runs/{best['run']}")
    assert final["depends_on"] == [best["run"]]
    last_trial = max(epoch(cli.run(t["run"])["finished_at"]) for t in trials(cli.env, search["id"]))
    assert epoch(final["started_at"]) >= last_trial, "it waited for the whole search"
    assert len(cli.json("metrics", str(final["id"]), "--json")["metrics"]["val_loss"]) == 20
    assert f"/runs/{final['id']}/code" in cli("logs", str(done["id"])).stdout
    history = [e["message"] for e in cli.json("show", str(final["id"]), "--json")["events"]]
    assert any(m.startswith(f"search {search['id']} ended: best trial {best['trial']} "
                            f"(run {best['run']}") for m in history), history


def test_the_steps_after_a_search_that_failed_fail_as_dependents(cli, project):
    broken = FLOW.replace('command = "python3 objective.py --lr {lr}',
                          'command = "sh -c \'exit 1\' x {lr}').replace("trials = 4", "trials = 2")
    (project / "flow.toml").write_text(broken)
    reply = cli.json("launch", "--file", "flow.toml", "--json")
    search = next(g for g in reply["groups"] if g["kind"] == "search")
    ended = wait_ended(cli, search["id"], "failed")["search"]
    (final,) = _runs_named(cli, "final")
    final = cli.wait_state(final["id"], "failed")
    assert final["cause"] == "dependency"
    assert final["reason"] == f"dependency failed: search {search['id']} ended: " \
                              f"{ended['reason']}"
    (evaluate,) = _runs_named(cli, "evaluate")
    assert cli.wait_state(evaluate["id"], "failed")["cause"] == "dependency"


def test_best_placeholders_need_a_search_to_come_after(cli, project):
    (project / "flow.toml").write_text(
        '[[step]]\nname = "a"\ncommand = "true"\n'
        '[[step]]\nname = "b"\nafter = ["a"]\ncommand = "echo {best.lr}"\n')
    proc = cli("launch", "--file", "flow.toml", check=False)
    assert proc.returncode == 2 and "{best.lr}: this step comes after no search" in proc.stderr
    (project / "flow.toml").write_text(FLOW.replace("{best.opt}", "{best.momentum}"))
    proc = cli("launch", "--file", "flow.toml", check=False)
    assert proc.returncode == 2 and "the search does not vary momentum" in proc.stderr
    assert "searched params: lr, layers, opt" in proc.stderr
    assert cli.json("status", "--json", "--all")["runs"] == []


def test_a_search_after_a_big_sweep_waits_for_all_of_it(cli, project):
    # A step after a sweep of more than 64 runs waits for the sweep's group; a search step
    # carried no group dependency, so its trials started beside the sweep.
    with_objective(project)
    (project / "flow.toml").write_text("""
[[step]]
name = "prep"
command = "sh -c 'if [ {i} = 0 ]; then sleep 2; fi' x"
sweep = { i = "range(0,70)" }

[[step]]
name = "tune"
after = ["prep"]
command = "python3 objective.py --lr {lr} --layers 2 --opt adam --steps 4 --delay 0"
search = "random"
objective = "val_loss"
trials = 2
parallel = 2
seed = 3
sweep = { lr = "log(1e-4,1e-1)" }
""")
    reply = cli.json("launch", "--file", "flow.toml", "--json")
    search = next(g for g in reply["groups"] if g["kind"] == "search")
    wait_ended(cli, search["id"])
    prep_end = max(epoch(r["finished_at"]) for r in _runs_named(cli, "prep"))
    found = trials(cli.env, search["id"])
    assert len(found) == 2
    first_trial = min(epoch(cli.run(t["run"])["started_at"]) for t in found)
    assert first_trial >= prep_end, "a trial started before the sweep it comes after ended"
