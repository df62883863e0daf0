"""Cancel ends the whole process tree: SIGTERM, a grace period, then SIGKILL."""


from tests.helpers import process_alive, wait_for


def _tree_pids(run_dir) -> list[int]:
    return [int(x) for x in (run_dir / "code" / "pids").read_text().split()]


def test_cancel_ends_children_and_grandchildren(cli, env):
    script = "sleep 300 & echo $! >> pids; (sleep 300 & echo $! >> pids; wait) & echo $$ >> pids; wait"
    run_id = cli.launch("sh", "-c", script)
    run_dir = __import__("pathlib").Path(env["RUNYARD_HOME"]) / "runs" / str(run_id)
    wait_for(lambda: (run_dir / "code" / "pids").exists() and len(_tree_pids(run_dir)) == 3,
             what="the process tree")
    pids = _tree_pids(run_dir)
    assert all(process_alive(p) for p in pids)
    cli("cancel", str(run_id))
    run = cli.run(run_id)
    assert run["state"] == "cancelled" and run["reason"].startswith("cancelled")
    wait_for(lambda: not any(process_alive(p) for p in pids), what="the tree to be gone", timeout=5)


def test_a_run_that_ignores_sigterm_is_killed_after_the_grace_period(cli, project):
    (project / "runyard.toml").write_text("[run]\ncancel_grace = 1\n")
    run_id = cli.launch("python3", "-c",
                        "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                        " print('ready', flush=True); time.sleep(300)")
    wait_for(lambda: "ready" in cli("logs", str(run_id)).stdout, what="ready")
    cli("cancel", str(run_id), timeout=30)
    run = cli.run(run_id)
    assert run["state"] == "cancelled" and run["exit_code"] == 137
    assert "SIGKILL" in run["reason"]


def test_cancel_a_queued_run_and_an_ended_one(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 1\n")
    blocker = cli.launch("sleep", "300")
    queued = cli.launch("true")
    assert cli.run(queued)["state"] == "queued"
    out = cli.json("cancel", str(queued), "--json")
    assert out["runs"] == [{"id": queued, "state": "cancelled", "changed": True}]
    assert cli.run(queued)["started_at"] is None
    cli("cancel", str(blocker))
    again = cli("cancel", str(blocker))
    assert "already ended" in again.stderr
