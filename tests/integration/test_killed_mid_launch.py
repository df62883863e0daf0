"""Kill -9 of the engine in the middle of a launch: the client learns the truth (the runs
that were recorded, by asking the restarted engine under its request id), never "failed"
for runs that then run, and nothing is launched twice."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import process_alive, wait_for

SWEEP = 10_000         # the largest sweep: its reply takes the engine a while to build


def _kill_once_recorded(db: Path, pid: int, before: int, timeout: float = 60) -> None:
    """SIGKILL the engine the moment the sweep's runs are committed (one reader connection,
    polled without sleeping, so the kill lands while the engine builds its reply)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    try:
        wait_for(lambda: conn.execute("SELECT count(*) FROM runs").fetchone()[0] != before,
                 timeout=timeout, interval=0, what="the launch to be recorded")
    finally:
        conn.close()
    os.kill(pid, signal.SIGKILL)


def test_a_launch_whose_engine_is_killed_after_recording_prints_the_real_ids(cli, env, project):
    (project / "runyard.toml").write_text("[targets.local]\nmax_parallel = 1\n")
    blocker = cli.launch("sleep", "600")                  # the sweep waits behind it
    cli.wait_state(blocker, "running")
    pid = cli.engine_pid()
    db = Path(env["RUNYARD_HOME"]) / "runyard.db"
    values = ",".join(str(i) for i in range(SWEEP))
    launch = subprocess.Popen([sys.executable, "-m", "tui", "launch", "--sweep", f"i={values}",
                               "--", "echo", "{i}"], cwd=project, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _kill_once_recorded(db, pid, before=1)                 # before its reply is written
    began = time.monotonic()
    out, err = launch.communicate(timeout=120)
    took = time.monotonic() - began
    assert not process_alive(pid)
    assert launch.returncode == 0, err
    printed = [int(line) for line in out.split()]
    assert "started again; the runs it had recorded go on" in err, err
    runs = [r for r in cli.json("status", "--all", "--json")["runs"] if r["id"] != blocker]
    assert printed == [r["id"] for r in runs] and len(printed) == SWEEP, "once, not twice"
    assert {r["state"] for r in runs} == {"queued"}
    assert cli.engine_pid() not in (None, pid)
    print(f"the client learned the {SWEEP} ids {took:.1f} s after the engine was killed")
    cli("cancel", str(blocker))
    assert cli.wait_state(printed[0], "succeeded", timeout=60)["exit_code"] == 0
