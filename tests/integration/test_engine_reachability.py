"""A client never waits forever: a frozen engine is named within the engine timeout, and an
engine that cannot start says why at once."""

import os
import signal
import time

import pytest

from core.client import START_TIMEOUT

# The clients here give up after 4 s of silence instead of the default 10 (RUNYARD_ENGINE_TIMEOUT):
# the same code path at a third of the wait, still four heartbeats long.
ENGINE_TIMEOUT = 4


@pytest.fixture(autouse=True)
def short_engine_timeout(env):
    env["RUNYARD_ENGINE_TIMEOUT"] = str(ENGINE_TIMEOUT)


def test_a_frozen_engine_gets_a_clear_error_instead_of_a_hang(cli, env, project):
    """SIGSTOP on the engine: every kind of request (one reply, a stream) ends with a message
    naming the engine and how to see it is stopped."""
    run_id = cli.launch("sleep", "300")
    cli.wait_state(run_id, "running")
    pid = cli.engine_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        waited = {}
        for args in (["cancel", str(run_id)], ["wait", str(run_id)], ["launch", "--", "true"]):
            began = time.monotonic()
            proc = cli(*args, check=False, timeout=ENGINE_TIMEOUT * 4)
            waited[args[0]] = time.monotonic() - began
            assert proc.returncode == 5, (args, proc.stderr)
            assert f"the engine (pid {pid}) has not answered for" in proc.stderr, proc.stderr
            assert f"kill -CONT {pid}" in proc.stderr
        print("a client waits on a frozen engine: " +
              ", ".join(f"tui {k} {v:.1f} s" for k, v in waited.items()))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert cli.run(run_id)["state"] == "running", "nothing was done while it was frozen"
    cli("cancel", str(run_id))


def test_a_busy_engine_is_not_taken_for_a_frozen_one(cli, env, project):
    """A request that takes longer than the timeout (a cancel waiting out its grace period)
    is kept alive by the engine's heartbeats."""
    (project / "runyard.toml").write_text("[run]\ncancel_grace = %d\n" % (ENGINE_TIMEOUT + 3))
    run_id = cli.launch("sh", "-c", "trap '' TERM; echo up; sleep 60")
    cli.wait_state(run_id, "running")
    proc = cli("cancel", str(run_id), timeout=ENGINE_TIMEOUT * 6)
    assert proc.returncode == 0 and f"run {run_id} cancelled" in proc.stderr


def test_an_engine_that_cannot_start_says_why_at_once(cli, env, project):
    """The store's database is someone else's file: the engine refuses at start, and the
    client prints the engine's own reason instead of waiting for a socket."""
    home = env["RUNYARD_HOME"]
    os.makedirs(home)
    with open(os.path.join(home, "runyard.db"), "wb") as handle:
        handle.write(b"this is not a database " * 200)
    began = time.monotonic()
    proc = cli("launch", "--", "true", check=False)
    took = time.monotonic() - began
    assert proc.returncode == 6, proc.stderr
    assert "is damaged (file is not a database)" in proc.stderr and "hint:" in proc.stderr
    assert took < START_TIMEOUT / 3, f"the client waited {took:.1f} s"
    print(f"an engine that cannot start: the client knew in {took:.2f} s")
