"""A chain step after a big sweep waits for the sweep's group (`after_groups`): one
reference instead of a dependency on each run, with the same rules as run dependencies."""

import json

from tests.helpers import wait_for

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
