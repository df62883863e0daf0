"""Dependencies (--after) and chains through the real CLI and engine, failure paths included."""

import shutil

from tests.helpers import EXAMPLES, wait_for


def _ids(proc) -> list[int]:
    return [int(line) for line in proc.stdout.split()]


def test_a_run_starts_only_after_its_dependency_succeeded(cli, tmp_path):
    go = tmp_path / "go"
    first = cli.launch("sh", "-c", f"while [ ! -f {go} ]; do sleep 0.05; done; echo made")
    second = cli.launch("sh", "-c", "echo second", opts=("--after", str(first)))
    wait_for(lambda: cli.run(first)["state"] == "running", what="the first run to start")
    assert cli.run(second)["state"] == "queued" and cli.run(second)["depends_on"] == [first]
    go.write_text("")
    done = cli.wait_state(second, "succeeded")
    assert done["started_at"] >= cli.run(first)["finished_at"]
    assert cli("logs", str(second)).stdout == "second\n"


def test_a_failed_dependency_fails_the_chain_without_starting_it(cli):
    bad = cli.launch("sh", "-c", "exit 3")
    middle = cli.launch("true", opts=("--after", str(bad)))
    last = cli.launch("true", "again", opts=("--after", f"{middle},{bad}"))
    assert cli("wait", str(last), check=False).returncode == 1
    mid = cli.run(middle)
    assert mid["state"] == "failed" and mid["cause"] == "dependency"
    assert mid["reason"] == f"dependency failed: run {bad} failed"
    assert mid["started_at"] is None and mid["exit_code"] is None
    end = cli.run(last)
    assert end["cause"] == "dependency" and end["reason"].startswith("dependency failed: run ")
    assert cli("logs", str(middle)).stdout == "", "it never ran"


def test_a_cancelled_dependency_fails_its_dependents(cli):
    slow = cli.launch("sleep", "60")
    waiting = cli.launch("true", opts=("--after", str(slow)))
    cli("cancel", str(slow))
    failed = cli.wait_state(waiting, "failed")
    assert failed["reason"] == f"dependency failed: run {slow} was cancelled"


def test_unknown_dependencies_and_cycles_are_refused_and_record_nothing(cli, project):
    proc = cli("launch", "--after", "99", "--", "true", check=False)
    assert proc.returncode == 3 and "no run with id 99" in proc.stderr
    (project / "loop.toml").write_text(
        '[[step]]\nname = "a"\ncommand = "true"\nafter = ["b"]\n'
        '[[step]]\nname = "b"\ncommand = "true"\nafter = ["a"]\n')
    proc = cli("launch", "--file", "loop.toml", check=False)
    assert proc.returncode == 2 and "the steps form a cycle: a -> b -> a" in proc.stderr
    assert cli.json("status", "--json", "--all")["runs"] == []


def test_a_chain_from_one_file_prepare_then_a_sweep_then_evaluate(cli, tmp_path):
    example = tmp_path / "pipeline"
    shutil.copytree(EXAMPLES / "pipeline", example)
    ids = _ids(cli("launch", "--file", "pipeline.toml", cwd=example))
    assert len(ids) == 5
    prepare, *train, evaluate = (cli.run(i) for i in ids)
    assert prepare["depends_on"] == [] and all(t["depends_on"] == [prepare["id"]] for t in train)
    assert evaluate["depends_on"] == [t["id"] for t in train]
    assert cli("wait", str(evaluate["id"]), timeout=120).returncode == 0
    runs = {i: cli.run(i) for i in ids}
    assert all(r["state"] == "succeeded" for r in runs.values())
    assert all(runs[t["id"]]["started_at"] >= runs[prepare["id"]]["finished_at"] for t in train)
    assert runs[evaluate["id"]]["started_at"] >= max(runs[t["id"]]["finished_at"] for t in train)
    log = cli("logs", str(evaluate["id"])).stdout
    assert "evaluated_runs=3 best_loss=" in log, log
    assert [cli.json("metrics", str(t["id"]), "--json")["metrics"]["loss"][-1][0]
            for t in train] == [5, 5, 5], "each training run read the prepared data"
    groups = cli.json("status", "--json", "--all")["groups"]
    chain = next(g for g in groups if g["kind"] == "chain")
    sweep = next(g for g in groups if g["kind"] == "sweep")
    assert sweep["parent"] == chain["id"] and sweep["runs"] == 3
    assert chain["spec"]["steps"] == ["prepare", "train", "evaluate"]
    assert runs[prepare["id"]]["group"] == chain["id"]
    assert {runs[t["id"]]["group"] for t in train} == {sweep["id"]}
