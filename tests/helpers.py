"""Test helpers: polling with a deadline (never a fixed sleep), the real CLI as a subprocess,
prerequisites, free ports and the processes a test's store leaves behind."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def require(condition: bool, why: str) -> None:
    """Skip when a prerequisite is missing, except in CI, where it must be there."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"prerequisite missing in CI: {why}")
    pytest.skip(why)


class Deadline:
    """The end of a wait; `check` fails the test once it has passed, saying what was awaited.

    `what` is a text, or a function giving it (called only at the deadline, so it may read a
    daemon's log).
    """

    def __init__(self, timeout: float, what: str | Callable[[], str] = "condition"):
        self.timeout = timeout
        self.what = what
        self.at = time.monotonic() + timeout

    def check(self, more: Callable[[], str] | None = None) -> None:
        """Fail once the deadline has passed; `more` adds to the message (called only then)."""
        if time.monotonic() > self.at:
            what = self.what() if callable(self.what) else self.what
            raise AssertionError(f"timed out after {self.timeout:.0f} s waiting for {what}"
                                 + (more() if more else ""))


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05,
             what: str | Callable[[], str] = "condition"):
    """Poll `predicate` until it returns something truthy; fail the test at the deadline."""
    deadline = Deadline(timeout, what)
    while not (value := predicate()):
        deadline.check()
        time.sleep(interval)
    return value


async def wait_for_async(predicate, timeout: float = 20.0, interval: float = 0.05,
                         what: str | Callable[[], str] = "condition"):
    """wait_for inside an event loop, which keeps running between polls; `predicate` may be
    a coroutine function."""
    deadline = Deadline(timeout, what)
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        deadline.check()
        await asyncio.sleep(interval)


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (a daemon started on it may still race another)."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


class Cli:
    """Runs `python -m tui ...` as a user would, in an isolated environment."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.env = env
        self.cwd = cwd

    def __call__(self, *args: str, cwd: Path | None = None, check: bool = True,
                 timeout: float = 60, input: str | None = None,
                 env: dict | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "tui", *args], cwd=cwd or self.cwd,
                              env={**self.env, **(env or {})}, capture_output=True, text=True,
                              encoding="utf-8", errors="replace",
                              timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"tui {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def json(self, *args: str, **kwargs) -> dict:
        return json.loads(self(*args, **kwargs).stdout)

    def launch(self, *command: str, opts: tuple[str, ...] = (), **kwargs) -> int:
        return int(self("launch", *opts, "--", *command, **kwargs).stdout.strip())

    def run(self, run_id: int) -> dict:
        return self.json("show", str(run_id), "--json")["run"]

    def wait_state(self, run_id: int, *states: str, timeout: float = 30) -> dict:
        return wait_for(lambda: (r := self.run(run_id))["state"] in states and r,
                        timeout=timeout, what=f"run {run_id} to be {'/'.join(states)}")

    def engine_pid(self) -> int | None:
        info = self.json("engine", "status", "--json")["engine"]
        return info["pid"] if info["running"] else None


def isolated_env(root: Path, home: Path | None = None) -> dict[str, str]:
    """This process's environment with a store, config and data folders of its own under
    `root` (the store at `home` if given), a git identity and no global git config. A leaked
    engine goes away by itself after 10 idle minutes."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    environ.update(
        RUNYARD_HOME=str(home or root / "store"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_DATA_HOME=str(root / "data"),
        XDG_STATE_HOME=str(root / "state"),
        RUNYARD_ENGINE_IDLE_EXIT="600",
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
        GIT_CONFIG_GLOBAL=str(root / "gitconfig"), GIT_CONFIG_NOSYSTEM="1",
        PYTHONPATH=str(REPO),
    )
    return environ


def stop_store(env: dict[str, str], cwd: Path) -> None:
    """`tui engine stop` for the store of `env`, then kill anything still running from it."""
    subprocess.run([sys.executable, "-m", "tui", "engine", "stop"], env=env, capture_output=True,
                   timeout=60, cwd=str(cwd), check=False)
    kill_store_processes(Path(env["RUNYARD_HOME"]))


def store_fingerprint(env: dict[str, str]) -> str:
    """A hash of everything in the store's database (read in a process of its own), to show
    that a refused command changed nothing."""
    db = Path(env["RUNYARD_HOME"]) / "runyard.db"
    if not db.exists():
        return "no store"
    dump = subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect("
                           "sys.argv[1]); print('\\n'.join(c.iterdump()))", str(db)],
                          capture_output=True, text=True, check=True).stdout
    return hashlib.sha256(dump.encode()).hexdigest()


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_store_processes(home: Path) -> None:
    """Kill anything still running from a test's store (engine, wrappers, run commands)."""
    marker = os.fsencode(str(home))
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                cmdline = handle.read()
            with open(f"/proc/{name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if marker in cmdline or b"RUNYARD_HOME=" + marker + b"\0" in environ:
            try:
                os.kill(int(name), 9)
            except ProcessLookupError:
                continue


def epoch(stamp: str) -> float:
    """Seconds since the epoch of an ISO 8601 time as runyard writes it."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
