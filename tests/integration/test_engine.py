"""The engine: started on demand, one per store, and never the reason a run stops or is lost."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import process_alive, wait_for


def _kill_engine(cli) -> int:
    pid = cli.engine_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(pid), what="the engine to die")
    return pid


def test_engine_starts_on_demand_detached_and_stops(cli, env):
    assert cli.engine_pid() is None
    cli.launch("true")
    pid = cli.engine_pid()
    assert pid and process_alive(pid)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    session, tty = int(stat[3]), int(stat[4])
    assert session != os.getsid(0) and tty == 0, "the engine is detached from the terminal"
    status = cli.json("engine", "status", "--json")["engine"]
    assert status["running"] and status["home"] == env["RUNYARD_HOME"]
    cli("engine", "stop")
    wait_for(lambda: not process_alive(pid), what="engine exit")
    assert cli.json("engine", "status", "--json")["engine"]["running"] is False


def test_kill_9_of_engine_stops_no_run_and_loses_nothing(cli):
    writer = cli.launch("sh", "-c", "for i in $(seq 1 30); do echo loss=$i; sleep 0.1; done; exit 4")
    sleeper = cli.launch("sh", "-c", "sleep 1; echo finished-while-engine-down")
    wait_for(lambda: cli.run(writer)["state"] == "running" and cli.run(sleeper)["state"] == "running",
             what="both runs running")
    _kill_engine(cli)
    wait_for(lambda: "finished-while-engine-down" in cli("logs", str(sleeper)).stdout,
             what="the run to finish while the engine is down", timeout=20)
    # Any tui command brings the engine back; it reattaches and records the truth.
    cli("status")
    done = cli.wait_state(writer, "failed", timeout=30)
    assert done["exit_code"] == 4
    lines = cli("logs", str(writer)).stdout.splitlines()
    assert lines == [f"loss={i}" for i in range(1, 31)]
    points = cli.json("metrics", str(writer), "--json")["metrics"]["loss"]
    assert [v for _, v in points] == list(range(1, 31)), "every metric exactly once"
    quick = cli.wait_state(sleeper, "succeeded")
    events = [e["message"] for e in cli.json("show", str(sleeper), "--json")["events"]]
    assert "reattached after an engine restart" in events
    assert quick["finished_at"] < cli.run(writer)["finished_at"]


def test_a_run_that_vanishes_without_status_is_lost_with_reason(cli):
    run_id = cli.launch("sleep", "60")
    wait_for(lambda: cli.run(run_id)["state"] == "running", what="running")
    _kill_engine(cli)
    pid = json.loads((Path(cli.env["RUNYARD_HOME"]) / "runs" / str(run_id) / "pid").read_text())
    os.killpg(pid, signal.SIGKILL)                 # wrapper and command die; no status written
    wait_for(lambda: not process_alive(pid), what="the run to vanish")
    lost = cli.wait_state(run_id, "lost")
    assert "ended without writing an exit status" in lost["reason"]


def test_a_run_marked_running_but_never_started_is_queued_again(cli, env):
    run_id = cli.launch("true")
    cli("wait", str(run_id))
    cli("engine", "stop")
    conn_path = Path(env["RUNYARD_HOME"]) / "runyard.db"
    # What an engine killed between "running" and the process start leaves behind:
    import sqlite3
    conn = sqlite3.connect(conn_path)
    conn.execute("INSERT INTO runs (name, state, target, command, template, project, created_at,"
                 " started_at) SELECT name, 'running', target, '[\"sh\",\"-c\",\"echo again\"]',"
                 " template, project, created_at, created_at FROM runs WHERE id = ?", (run_id,))
    conn.commit()
    new_id = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
    conn.execute("UPDATE runs SET snapshot = (SELECT snapshot FROM runs WHERE id = ?) WHERE id = ?",
                 (run_id, new_id))
    conn.commit()
    conn.close()
    cli("status")                                  # revives the engine
    done = cli.wait_state(new_id, "succeeded")
    assert "again" in cli("logs", str(new_id)).stdout
    events = [e["message"] for e in cli.json("show", str(new_id), "--json")["events"]]
    assert any("queued again" in m for m in events) and done["exit_code"] == 0


def test_one_engine_per_store_even_when_raced(cli, env, tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "tui", "engine", "start"], env=env,
                              stderr=subprocess.PIPE, cwd=tmp_path) for _ in range(6)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    engines = [p for p in os.listdir("/proc") if p.isdigit() and _is_engine_of(p, env["RUNYARD_HOME"])]
    assert len(engines) == 1


def _is_engine_of(pid: str, home: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"core.engine" in argv and home.encode() in argv


def test_engine_survives_the_terminal_that_started_it(cli, env, tmp_path):
    # Start the engine from a shell in its own session, then kill that whole session.
    shell = subprocess.Popen([sys.executable, "-m", "tui", "launch", "--", "sleep", "30"], env=env,
                             cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE)
    run_id = int(shell.stdout.read())
    shell.wait(timeout=30)
    try:
        os.killpg(shell.pid, signal.SIGHUP)
    except ProcessLookupError:
        pass
    assert cli.run(run_id)["state"] in ("queued", "running")
    assert cli.engine_pid()
    cli("cancel", str(run_id))


def test_tui_engine_run_is_the_engine_in_the_foreground(cli, env, tmp_path):
    """`tui engine run` becomes `python -m core.engine` (same pid): it serves, and stops on
    SIGTERM with exit 0, without the CLI importing the engine's modules."""
    env = {**env, "PYTHONPATH": ""}                  # found through the installed package
    proc = subprocess.Popen([sys.executable, "-m", "tui", "engine", "run"], env=env,
                            cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        def serving() -> bool:
            status = cli("engine", "status", "--json", check=False)   # answers once it listens
            return status.returncode == 0 and json.loads(status.stdout)["engine"]["pid"] == \
                proc.pid

        wait_for(serving, timeout=30, what="the engine answers")
        assert _is_engine_of(str(proc.pid), env["RUNYARD_HOME"])
        run_id = cli.launch("true")
        assert cli("wait", str(run_id)).returncode == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
