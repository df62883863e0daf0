"""Fifty runs on one box share one SSH connection (OpenSSH allows 10 sessions on one)."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.helpers import wait_for

RUNS = 50


def test_fifty_concurrent_runs_use_one_connection(lab, cli):
    lab.configure(lab.target("box1", max_parallel=RUNS))
    go = lab.root / "go"
    runs = Path(cli.env["RUNYARD_HOME"]) / "runs"

    def launch(n: int) -> int:
        return cli.launch("sh", "-c", f'echo "up {n}"; while [ ! -e {go} ]; do sleep 0.3; done; '
                          f'echo "done {n}"', opts=("--target", "box1", "--name", f"r{n}"))

    def log(run_id: int) -> str:
        path = runs / str(run_id) / "output.log"
        return path.read_text() if path.exists() else ""

    cli("engine", "start")
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(launch, range(RUNS)))
    wait_for(lambda: cli.json("status", "--json", "--state", "running")["runs"].__len__() == RUNS
             and all(log(i) for i in ids), timeout=120,
             what="all runs running with their first line mirrored")
    assert len(lab.box1.connections()) == 1, "one sshd connection for fifty runs"
    go.touch()
    cli("wait", *map(str, ids), "--quiet", timeout=180)
    for n, run_id in enumerate(ids):
        assert log(run_id) == f"up {n}\ndone {n}\n"
    states = {r["state"] for r in cli.json("status", "--json", "--all")["runs"]}
    assert states == {"succeeded"}
    engine_log = (Path(cli.env["RUNYARD_HOME"]) / "engine.log").read_text()
    assert engine_log.count("box box1: ok") == 1, "never reconnected"
