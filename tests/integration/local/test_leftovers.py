"""A run that leaves a daemon (double fork, setsid) or background children: cancel ends every
process the run started, and a run that ends normally leaves nothing running unnoticed.
Both with the run's own cgroup (cgroup v2, where the engine can make one) and without it
(the engine started in a mount namespace where the cgroup file system is read-only)."""

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.executors.cgroup import hierarchy
from tests.helpers import require
from tests.helpers import wait_for

DAEMON = """
import os, sys, time
marker = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)",
                                  marker + "-daemon"])
    os._exit(0)
os.wait()
print("daemon started", flush=True)
"""


SLEEPER = f"{sys.executable} -c 'import time; time.sleep(1000)'"


def _with_marker(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                    found.append(int(name))
            except OSError:
                continue
    return found


def _argv(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    except OSError:
        return []


def _session(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])


@pytest.fixture(params=["cgroup", "process tree"])
def engine(request, cli, env, project):
    """The engine, with cgroups usable or not (a real read-only cgroup file system)."""
    if request.param == "cgroup":
        base = hierarchy()
        require(base is not None and os.access(base, os.W_OK), "no writable cgroup v2 here")
        cli("engine", "start")
    else:
        require(os.geteuid() == 0 and shutil.which("unshare"), "needs root and unshare")
        base = hierarchy()
        require(base is not None, "no cgroup v2 here to make read-only")
        mount = _mount_point(base)
        script = (f"mount --bind {mount} {mount} && mount -o remount,bind,ro {mount} && "
                  f'exec "$@"')
        proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                               "sh", sys.executable, "-m", "tui", "engine", "start"],
                              env=env, cwd=project, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
    return request.param


def _mount_point(base: Path) -> str:
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if " - cgroup2 " in line]
    return next(m for m in mounts if str(base).startswith(m))


def test_cancel_ends_a_daemon_the_run_started(cli, env, engine):
    marker = f"leftover-{secrets.token_hex(6)}"
    run_id = cli.launch("sh", "-c", f'{sys.executable} -c "$0" {marker}; {SLEEPER} {marker}-child '
                                    '& sleep 1000', DAEMON)
    daemon = wait_for(lambda: next((p for p in _with_marker(marker)
                                    if _argv(p)[-1:] == [f"{marker}-daemon".encode()]), None),
                      what="the daemon")
    wrapper = int((Path(env["RUNYARD_HOME"]) / "runs" / str(run_id) / "pid").read_text())
    assert _session(daemon) != _session(wrapper), "the daemon left the run's session"
    has_cgroup = (Path(env["RUNYARD_HOME"]) / "runs" / str(run_id) / "cgroup").exists()
    assert has_cgroup == (engine == "cgroup")
    cli("cancel", str(run_id))
    assert cli.run(run_id)["state"] == "cancelled"
    wait_for(lambda: not _with_marker(marker), timeout=15, what="every process of the run to end")


def test_a_run_that_ends_leaves_nothing_running(cli, env, engine):
    marker = f"leftover-{secrets.token_hex(6)}"
    # The run ends once its background child has become the sleeper (named in its history).
    run_id = cli.launch("sh", "-c", f'{sys.executable} -c "$0" {marker}; {SLEEPER} {marker}-child '
                                    f'& until grep -q {marker}-child /proc/$!/cmdline; do sleep 0.01; done; '
                                    'echo done', DAEMON)
    done = cli.wait_state(run_id, "succeeded", timeout=60)
    assert done["exit_code"] == 0
    assert not _with_marker(marker), "nothing the run started is left running"
    events = [e["message"] for e in cli.json("show", str(run_id), "--json")["events"]]
    note = next(m for m in events if m.startswith("ended processes the run left running: "))
    assert f"{marker}-daemon" in note and f"{marker}-child" in note
    assert "ended processes the run left running" in cli("logs", str(run_id)).stdout
