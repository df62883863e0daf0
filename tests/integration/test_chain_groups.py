"""A chain step after a big sweep waits for the sweep's group (`after_groups`): one
reference instead of a dependency on each run, with the same rules as run dependencies."""

import json

from tests.helpers import wait_for
from tests.searches import trials, wait_ended, with_objective

SWEEP = 70                          # past GROUP_DEPENDENCY_RUNS (64)


def _chain(project, command: str, retries: int = 0) -> None:
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 8\n")
    (project / "chain.toml").write_text(
        f'[[step]]\nname = "train"\ncommand = "{command}"\n'
        f'sweep = {{ i = "range(0,{SWEEP})" }}\nretries = {retries}\nretry_delay = 0\n'
        '[[step]]\nname = "report"\ncommand = "echo reported"\nafter = ["train"]\n')


def test_the_step_after_a_big_sweep_waits_for_every_run_of_it(cli, project, tmp_path):
    go = tmp_path / "go"
    _chain(project, f"sh -c 'while [ ! -f {go} ]; do sleep 0.05; done'")
    ids = [int(x) for x in cli("launch", "--file", "chain.toml").stdout.split()]
    assert len(ids) == SWEEP + 1
    train, report = [cli.run(i) for i in ids[:-1]], cli.run(ids[-1])
    assert report["depends_on"] == [] and report["after_groups"] == [train[0]["group"]]
    shown = cli("show", str(report["id"])).stdout
    assert f"after      every run of group {train[0]['group']}" in shown
    wait_for(lambda: cli.run(ids[0])["state"] == "running", what="the sweep to start")
    assert cli.run(report["id"])["state"] == "queued"
    go.write_text("")
    done = cli.wait_state(report["id"], "succeeded", timeout=120)
    ended = [cli.run(i) for i in ids[:-1]]
    assert all(r["state"] == "succeeded" for r in ended)
    assert done["started_at"] >= max(r["finished_at"] for r in ended)


def test_one_failed_run_of_the_sweep_fails_the_step_after_it(cli, project):
    _chain(project, "sh -c 'test {i} != 7'")
    ids = [int(x) for x in cli("launch", "--file", "chain.toml").stdout.split()]
    report = cli.wait_state(ids[-1], "failed", timeout=120)
    group = cli.run(ids[0])["group"]
    assert report["cause"] == "dependency"
    assert report["reason"] == f"dependency failed: group {group}: run {ids[7]} failed"
    assert cli("logs", str(ids[-1])).stdout == "", "it never ran"


def test_a_retried_run_of_the_sweep_counts_by_its_last_attempt(cli, project, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    # run 3 of the sweep fails once, then succeeds on its retry
    _chain(project, f"sh -c 'test {{i}} != 3 || test -f {marks}/x || (touch {marks}/x; exit 1)'",
           retries=1)
    ids = [int(x) for x in cli("launch", "--file", "chain.toml").stdout.split()]
    cli.wait_state(ids[-1], "succeeded", timeout=120)
    first = cli.run(ids[3])
    assert first["state"] == "failed" and cli.run(first["retried_as"])["state"] == "succeeded"


def test_a_run_a_queued_step_waits_for_cannot_be_removed(cli, project, tmp_path):
    go = tmp_path / "go"
    _chain(project, f"sh -c 'test {{i}} = 0 || while [ ! -f {go} ]; do sleep 0.05; done'")
    ids = [int(x) for x in cli("launch", "--file", "chain.toml").stdout.split()]
    cli.wait_state(ids[0], "succeeded", timeout=60)
    proc = cli("rm", str(ids[0]), check=False)
    assert proc.returncode != 0 and f"run {ids[0]} is still needed by run {ids[-1]}" in proc.stderr
    go.write_text("")
    cli.wait_state(ids[-1], "succeeded", timeout=120)
    assert json.loads(cli("rm", "--json", str(ids[0])).stdout)["removed"][0]["id"] == ids[0]


def test_a_search_after_a_big_sweep_waits_for_its_group_not_each_run(cli, project, tmp_path):
    with_objective(project)
    go = tmp_path / "go"
    _chain(project, f"sh -c 'while [ ! -f {go} ]; do sleep 0.05; done'")
    with open(project / "chain.toml", "a") as flow:
        flow.write('[[step]]\nname = "tune"\nafter = ["train"]\nsearch = "random"\n'
                   'objective = "val_loss"\ntrials = 2\nparallel = 2\nseed = 3\n'
                   'command = "python3 objective.py --lr {lr} --steps 2 --delay 0"\n'
                   'sweep = { lr = "log(1e-4,1e-1)" }\n')
    reply = cli.json("launch", "--file", "chain.toml", "--json")
    sweep = next(g for g in reply["groups"] if g["kind"] == "sweep")
    search = next(g for g in reply["groups"] if g["kind"] == "search")
    wait_for(lambda: len(trials(cli.env, search["id"])) == 2, what="two trials asked")
    for trial in trials(cli.env, search["id"]):
        run = cli.run(trial["run"])
        assert run["depends_on"] == [] and run["after_groups"] == [sweep["id"]], run
        assert run["state"] == "queued"
        assert f"after      every run of group {sweep['id']}" in cli("show", str(run["id"])).stdout
    go.write_text("")
    ended = wait_ended(cli, search["id"], timeout=180)["search"]
    swept = [r for r in cli.json("status", "--json", "--all")["runs"] if r["group"] == sweep["id"]]
    assert len(swept) == SWEEP and all(r["state"] == "succeeded" for r in swept)
    last = max(r["finished_at"] for r in swept)
    for trial in trials(cli.env, search["id"]):
        assert cli.run(trial["run"])["started_at"] >= last
    assert ended["best"] is not None
