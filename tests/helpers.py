"""Test helpers: polling with a deadline (never a fixed sleep) and the real CLI as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


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
    from datetime import datetime
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
