"""A store under pressure: another program holding the write lock for minutes, a disk that
fills up as a run ends, and metrics piling up while the disk is short. The engine never
stops, a run's end is never lost, and metrics never take the last free space."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.engine.metric_room import reserve
from tests.helpers import require
from tests.helpers import epoch, kill_store_processes, process_alive, wait_for

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()                 # held until the test closes our stdin
conn.execute("ROLLBACK")
"""


def _hold_write_lock(db: Path) -> subprocess.Popen:
    """A real second process (a user's sqlite3 shell, say) holding the write lock."""
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(db)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_long_write_lock_is_waited_out_and_the_engine_never_stops(cli, env, project):
    going = cli.launch("sh", "-c", "while [ ! -e go ]; do sleep 0.1; done; echo bye; exit 3")
    cli.wait_state(going, "running")
    pid = cli.engine_pid()
    home = Path(env["RUNYARD_HOME"])
    locker = _hold_write_lock(home / "runyard.db")
    try:
        began = time.monotonic()
        refused = cli("launch", "--", "true", check=False)
        took = time.monotonic() - began
        assert refused.returncode == 6, refused.stderr
        assert "the store is busy: another program has held the write lock" in refused.stderr
        assert "hint:" in refused.stderr and "Traceback" not in refused.stderr
        print(f"a launch against a held write lock is refused after {took:.1f} s")
        (home / "runs" / str(going) / "code" / "go").touch()
        status_file = home / "runs" / str(going) / "exit_status"
        wait_for(status_file.exists, what="the run to end while the store is locked")
        ended_at = status_file.stat().st_mtime
        # The engine keeps serving while it cannot record: reads answer, writes wait.
        wait_for(lambda: "store writes fail" in (home / "engine.log").read_text(),
                 what="the engine to log the held lock")
        assert process_alive(pid), "the engine did not stop"
        assert cli.json("engine", "status", "--json")["engine"]["pid"] == pid
        assert cli.run(going)["state"] == "running", "its end waits for the lock"
        targets = {t["name"]: t for t in cli.json("targets", "--json")["targets"]}
        assert targets["local"]["status"] == "error"
        assert f"cannot record run {going}" in targets["local"]["message"]
    finally:
        locker.stdin.close()
        locker.wait(timeout=30)
    done = cli.wait_state(going, "failed", timeout=60)
    assert done["exit_code"] == 3 and "bye" in cli("logs", str(going)).stdout
    assert abs(epoch(done["finished_at"]) - ended_at) < 1.5, "its true end time"
    log = (home / "engine.log").read_text()
    assert "store writes fail: another program holds the write lock" in log
    assert "store writes work again after" in log
    assert cli.launch("sh", "-c", "exit 0") == going + 1
    assert cli.engine_pid() == pid


@pytest.fixture
def small_disk(tmp_path):
    """A real small file system for the store (tmpfs), filled and freed by the tests."""
    def make(size: str) -> Path:
        mount = tmp_path / f"disk-{size}"
        mount.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        require(proc.returncode == 0, f"cannot mount a tmpfs: {proc.stderr.strip()}")
        made.append(mount)
        return mount
    made: list[Path] = []
    yield make
    for mount in made:
        kill_store_processes(mount)
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_that_fills_as_a_run_ends_loses_neither_its_end_nor_its_code(cli, env, project,
                                                                           small_disk):
    """The run fills the store's disk, then exits 3: its exit status is still written (the
    wrapper took its block at start), the engine retries recording its end and the target
    shows why, and once space is back the run ends failed, code 3, at its true time."""
    home = small_disk("8m") / "store"
    cli.env = {**env, "RUNYARD_HOME": str(home)}
    run_id = cli.launch("sh", "-c", 'while [ ! -e go ]; do sleep 0.1; done; '
                                    'cat /dev/zero > "$RUNYARD_HOME/filler"; exit 3')
    cli.wait_state(run_id, "running")
    (home / "runs" / str(run_id) / "code" / "go").touch()
    status_file = home / "runs" / str(run_id) / "exit_status"
    wait_for(status_file.exists, what="the exit status written on a full disk")
    assert status_file.read_text().split("\n")[0] == "3\t"
    ended_at = status_file.stat().st_mtime
    assert os.statvfs(home).f_bavail < 16, "the disk is full"

    def shows_the_problem():
        targets = cli.json("targets", "--json", check=False)["targets"]
        local = next(t for t in targets if t["name"] == "local")
        return local["status"] == "error" and "full" in local["message"] and local
    shown = wait_for(shows_the_problem, what="the target to show the full disk")
    assert f"cannot record run {run_id}" in shown["message"]
    assert cli.run(run_id)["state"] == "running"
    (home / "filler").unlink()
    done = cli.wait_state(run_id, "failed", timeout=60)
    assert done["exit_code"] == 3 and done["reason"] == "exit code 3"
    assert abs(epoch(done["finished_at"]) - ended_at) < 1.5, "its true end time"
    cli("engine", "stop")


def test_metric_catch_up_after_a_restart_does_not_fill_the_disk_again(cli, env, project,
                                                                      small_disk):
    """A run prints 300,000 metric lines while no engine runs, on a disk with little room:
    the restarted engine records the run's end, pauses its metrics (said on the run) instead
    of filling the disk, and reads them all once there is room."""
    mount = small_disk("128m")
    home = mount / "store"
    cli.env = {**env, "RUNYARD_HOME": str(home)}
    lines = 300_000
    script = ('while [ ! -e go ]; do sleep 0.1; done; '
              f'{sys.executable} -c "import sys; sys.stdout.write(\'\'.join('
              f'\'loss=%d\\\\n\' % i for i in range({lines})))"')
    run_id = cli.launch("sh", "-c", script)
    cli.wait_state(run_id, "running")
    cli("engine", "stop")
    info = os.statvfs(mount)
    keep = reserve(info.f_blocks * info.f_frsize)
    free = info.f_bavail * info.f_frsize
    ballast = mount / "ballast"
    with open(ballast, "wb") as handle:       # leave 20 MB: less than kept, less than needed
        handle.truncate(0)
        handle.write(b"\0" * (free - 20_000_000))
    (home / "runs" / str(run_id) / "code" / "go").touch()
    wait_for((home / "runs" / str(run_id) / "exit_status").exists, timeout=60,
             what="the run to end while no engine runs")
    before = os.statvfs(mount).f_bavail * info.f_frsize
    assert before < keep
    cli("status")                                     # the engine comes back and catches up
    done = cli.wait_state(run_id, "succeeded", timeout=60)
    assert done["exit_code"] == 0
    events = [e["message"] for e in cli.json("show", str(run_id), "--json")["events"]]
    assert any(m.startswith("metrics paused: the store's disk has") for m in events), events
    after = os.statvfs(mount).f_bavail * info.f_frsize
    assert after > before - 2_000_000, "the catch-up did not fill the disk"
    ballast.unlink()
    points = wait_for(lambda: len(cli.json("metrics", str(run_id), "--json")["metrics"]
                                  .get("loss", [])) == lines and lines,
                      timeout=120, what="every point once there is room")
    assert points == lines
    events = [e["message"] for e in cli.json("show", str(run_id), "--json")["events"]]
    assert "metrics caught up" in events
    cli("engine", "stop")


def test_a_read_only_store_can_be_listed_and_refuses_changes_clearly(cli, env, project,
                                                                    small_disk):
    """A store on a file system mounted read-only (a backup, a full-disk remount): reading
    commands work as they are; anything that needs the engine says the store is read-only."""
    mount = small_disk("8m")
    home = mount / "store"
    cli.env = {**env, "RUNYARD_HOME": str(home)}
    run_id = cli.launch("sh", "-c", "echo loss=0.5")
    cli("wait", str(run_id))
    cli("engine", "stop")
    # Writable files close as the engine's process ends; then the remount is allowed.
    wait_for(lambda: subprocess.run(["mount", "-o", "remount,ro", str(mount)],
                                    capture_output=True).returncode == 0,
             what="the store's file system to be remounted read-only")
    try:
        assert [r["id"] for r in cli.json("status", "--json", "--all")["runs"]] == [run_id]
        assert cli("show", str(run_id)).returncode == 0
        assert cli("logs", str(run_id)).stdout == "loss=0.5\n"
        assert cli.json("metrics", str(run_id), "--json")["metrics"]["loss"] == [[0, 0.5]]
        for args in (["launch", "--", "true"], ["cancel", str(run_id)], ["engine", "start"]):
            proc = cli(*args, check=False)
            assert proc.returncode == 6, (args, proc.stderr)
            assert "read-only file system" in proc.stderr and "hint:" in proc.stderr
            assert "Traceback" not in proc.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
    assert cli("wait", str(cli.launch("true"))).returncode == 0
    cli("engine", "stop")
