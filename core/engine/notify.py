"""Notifications: hook commands and desktop notifications when a run ends. Quiet by default.

Configured in `[notify]` (checked by core.config, read at launch, kept with each run):

    [notify]
    on_finish = "cat >> ~/runs.jsonl"     # any run that ends (string: run by /bin/sh -c)
    on_fail = ["notify-me", "--urgent"]  # runs that end failed, lost or stopped (argv list)
    desktop = "fail"                      # notify-send: true (every end), "fail", or false
    timeout = 30                          # seconds a hook may take before it is killed

A hook gets `{"schema": 1, "event": "on_finish"|"on_fail", "run": RUN}` (RUN as in
`tui show --json`) on stdin, the launching shell's environment plus RUNYARD_RUN_ID,
RUNYARD_RUN_STATE, RUNYARD_RUN_NAME and RUNYARD_HOME, and runs in the project folder.
An attempt that is retried notifies nobody (its last attempt does); a cancelled run
runs on_finish only. A hook that fails, hangs or cannot start is recorded as an event of the run
(`tui show`) and in the engine log; it never stops the engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal

from core.config import DEFAULT_NOTIFY_TIMEOUT
from core.store import queries as run_queries
from core.store.blobs import BlobStore
from core.store.ledger import Ledger
from core.models import Run, RunState
from core.paths import StorePaths

log = logging.getLogger("runyard.engine")

FAILURES = (RunState.FAILED, RunState.LOST, RunState.STOPPED)
AT_ONCE = 4                 # hooks running at the same time (a sweep ends many runs at once)


class Notifier:
    def __init__(self, ledger: Ledger, blobs: BlobStore, paths: StorePaths):
        self.ledger = ledger
        self.blobs = blobs
        self.paths = paths
        self.tasks: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(AT_ONCE)

    def run_ended(self, run: Run) -> None:
        """Called by the runner for each run that ended for good."""
        settings = run_queries.options(self.ledger.conn, run.id).get("notify")
        if not settings:
            return
        jobs = []
        if settings.get("on_finish"):
            jobs.append(("on_finish", settings["on_finish"]))
        if settings.get("on_fail") and run.state in FAILURES:
            jobs.append(("on_fail", settings["on_fail"]))
        desktop = settings.get("desktop")
        if (desktop is True and run.state is not RunState.CANCELLED) or \
                (desktop == "fail" and run.state in FAILURES):
            jobs.append(("desktop", None))
        if not jobs:
            return
        task = asyncio.get_running_loop().create_task(
            self._notify(run.id, jobs, float(settings.get("timeout", DEFAULT_NOTIFY_TIMEOUT))),
            name=f"notify-{run.id}")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("notification task %s failed", task.get_name(), exc_info=task.exception())

    async def _notify(self, run_id: int, jobs, timeout: float) -> None:
        data = run_queries.run_json(self.ledger.conn, run_id)
        env = self._env(run_id, data)
        cwd = data["project"] if os.path.isdir(data["project"]) else str(self.paths.home)
        for event, argv in jobs:
            if event == "desktop":
                argv = _desktop_command(data, env)
                if argv is None:
                    continue
            payload = json.dumps({"schema": 1, "event": event, "run": data}).encode() + b"\n"
            async with self._slots:
                problem = await _run_hook(argv, payload, env, cwd, timeout)
            if problem:
                self.ledger.event(run_id, "hook", f"{event} hook failed: {problem}",
                                  {"argv": argv})
                log.warning("run %s: %s hook failed: %s", run_id, event, problem)

    def _env(self, run_id: int, data: dict) -> dict[str, str]:
        blob = run_queries.base_env_blob(self.ledger.conn, run_id)
        try:
            env = json.loads(self.blobs.read(blob)) if blob else dict(os.environ)
        except OSError:
            env = dict(os.environ)
        env.update(RUNYARD_RUN_ID=str(run_id), RUNYARD_RUN_STATE=data["state"],
                   RUNYARD_RUN_NAME=data["name"], RUNYARD_HOME=str(self.paths.home))
        return env

    async def close(self) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=5)
        for task in set(self.tasks):
            task.cancel()


def _desktop_command(data: dict, env: dict) -> list[str] | None:
    binary = shutil.which("notify-send", path=env.get("PATH"))
    if binary is None:
        return None
    title = f"runyard: run {data['id']} {data['name']} {data['state']}"
    body = data["reason"] or " ".join(f"{k}={v}" for k, v in list(data["metrics"].items())[:4])
    urgency = "normal" if data["state"] == "succeeded" else "critical"
    return [binary, "--app-name=runyard", f"--urgency={urgency}", title, body or data["state"]]


async def _run_hook(argv: list[str], payload: bytes, env: dict, cwd: str,
                    timeout: float) -> str | None:
    """Run one hook; None when it succeeded, else what went wrong."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)
    except OSError as exc:
        return f"cannot start {argv[0]}: {exc.strerror or exc}"
    try:
        _out, err = await asyncio.wait_for(proc.communicate(payload), timeout)
    except asyncio.TimeoutError:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            log.info("hook %s ended just as it timed out", argv[0])
        await proc.wait()
        return f"timed out after {timeout:g} s (killed)"
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace").strip()[-300:]
        return f"exit code {proc.returncode}" + (f": {tail}" if tail else "")
    return None
