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


def test_the_wrapper_records_its_status_while_the_group_keeps_getting_sigterm(tmp_path):
    """A cancel signals the tree twice (group, then each pid): the second signal may land
    on the `mv` that publishes exit_status. The wrapper must still leave a whole status."""
    import os
    import signal
    import subprocess
    import time
    from core.paths import WRAPPER
    for attempt in range(20):
        run_dir = tmp_path / str(attempt)
        run_dir.mkdir()
        proc = subprocess.Popen(["/bin/sh", str(WRAPPER), str(run_dir), str(tmp_path), "--",
                                 "sleep", "30"], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children = f"/proc/{proc.pid}/task/{proc.pid}/children"
        wait_for(lambda: open(children).read().strip(), what="the command to start")
        while proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                break
            time.sleep(0.0005)
        assert proc.wait() == 143
        # The status is the first line (blank lines after it fill the block taken at start).
        status = (run_dir / "exit_status").read_text()
        assert status.rstrip("\n") == "143\treceived SIGTERM", attempt


def test_cancel_many_queued_runs_at_once_each_recorded_once(cli, project):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 1\n")
    blocker = cli.launch("sleep", "300")
    cli("launch", "--sweep", "i=range(0,1200)", "--", "true", "{i}")
    queued = [run["id"] for run in cli.json("status", "--json")["runs"]
              if run["state"] == "queued"]
    assert len(queued) == 1200
    # Every queued run (one named twice), the running one, and an ended one.
    ended = queued[0]
    cli("cancel", str(ended))
    ids = [str(i) for i in [*queued, queued[5], blocker]]
    out = cli.json("cancel", "--json", *ids, timeout=60)
    assert [r["id"] for r in out["runs"]] == sorted({blocker, *queued}), "each once"
    assert out["runs"][1] == {"id": ended, "state": "cancelled", "changed": False}
    assert {r["state"] for r in out["runs"]} == {"cancelled"}
    runs = {run["id"]: run for run in cli.json("status", "--json", "--all")["runs"]}
    for run_id in queued[1:]:
        run = runs[run_id]
        assert (run["state"], run["reason"], run["started_at"]) == \
            ("cancelled", "cancelled (cancelled while queued)", None)
    history = [(e["kind"], e["message"]) for e in cli.json("show", "--json", str(queued[5]))
               ["events"]]
    assert history.count(("cancel", "cancel requested")) == 1
    assert history[-1] == ("state", "cancelled (cancelled while queued)")
