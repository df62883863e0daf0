"""The local target: runs as processes on this machine, each in its own session.

A run is `sh runwrap.sh RUN_DIR WORKDIR -- COMMAND...` started with setsid, its output
appended straight to RUN_DIR/output.log (no pipe through the engine, so the engine can
die without touching the run). The engine knows the run by pid plus process start time,
waits on it with a pidfd, and reads the wrapper's exit_status file when it ends.
Cancel: SIGTERM to the process group and every process of its tree, `grace` seconds,
then SIGKILL to whatever is left; the wrapper is reaped when this engine started it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

from core import gpus as gpu_detection
from core.executors import procs
from core.config import TargetConfig
from core.errors import ConfigError, ExecutorError
from core.executors.base import Context, Executor, Exit, describe_code, parse_status
from core.models import Run
from core.paths import WRAPPER
from core.store.snapshot import private_copy


def check_options(path: Path, where: str, options: dict) -> dict:
    for key in options:
        raise ConfigError(f"{path}: {where}.{key}: unknown key",
                          hint="local targets take kind, max_parallel, gpus and gpu_share")
    return options


class LocalExecutor(Executor):
    kind = "local"
    takes_shell_env = True          # a run gets the environment of the shell it was launched from
    run_folders_here = True

    def __init__(self, target: TargetConfig, context: Context):
        super().__init__(target, context)
        self._children: dict[int, subprocess.Popen] = {}

    async def start(self, run: Run, env: dict[str, str]) -> dict:
        run_dir = self.context.paths.run_dir(run.id)
        code_dir = run_dir / "code"
        try:
            await asyncio.to_thread(self._prepare, run, run_dir, code_dir)
        except OSError as exc:
            raise ExecutorError(f"cannot prepare the run folder {run_dir}: {exc.strerror or exc}",
                                target=self.target.name) from None
        workdir = code_dir / run.workdir if run.workdir else code_dir
        try:
            with open(run_dir / "output.log", "ab") as log:
                proc = subprocess.Popen(
                    ["/bin/sh", str(WRAPPER), str(run_dir), str(workdir), "--",
                     *run.spec.command],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=run_dir,
                    start_new_session=True, close_fds=True,
                    umask=-1 if self.context.run_umask is None else self.context.run_umask)
        except OSError as exc:
            raise ExecutorError(f"cannot start /bin/sh: {exc.strerror or exc}",
                                target=self.target.name) from None
        self._children[proc.pid] = proc
        return {"pid": proc.pid, "start_time": procs.start_time(proc.pid)}

    def _prepare(self, run: Run, run_dir: Path, code_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        for leftover in ("exit_status", "exit_status.tmp", "pid"):
            (run_dir / leftover).unlink(missing_ok=True)
        prepare_wrapper_files(run_dir)
        private_copy(run.snapshot, self.context.blobs, code_dir)

    async def wait(self, run: Run, handle: dict) -> Exit:
        pid, started = handle["pid"], handle.get("start_time")
        await procs.wait_exit(pid, started)
        return self._outcome(run, pid)

    def _outcome(self, run: Run, pid: int) -> Exit:
        child = self._children.pop(pid, None)
        returncode = child.wait() if child is not None else None
        status_file = self.context.paths.run_dir(run.id) / "exit_status"
        try:
            status = parse_status(status_file.read_text(errors="replace"))
            ended_at = status_file.stat().st_mtime
        except FileNotFoundError:
            status = None
        if status is not None:
            return Exit(status.exit_code, status.reason, ended_at=ended_at)
        if returncode is not None and returncode < 0:
            code = 128 - returncode
            return Exit(exit_code=code, reason=describe_code(code))
        if returncode is not None and returncode > 0:
            # The wrapper exits only through `finish`, with the command's code: the status
            # file could not be written (a full disk), but the code is still the true one.
            # 0 is not trusted: Popen also reports 0 for a child someone else reaped.
            return Exit(exit_code=returncode, reason=describe_code(returncode))
        return Exit(exit_code=None, lost=True,
                    reason=f"the run's process (pid {pid}) ended without writing an exit status")

    async def recover(self, run: Run) -> dict | None:
        run_dir = self.context.paths.run_dir(run.id)
        try:
            pid = int((run_dir / "pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if (run_dir / "exit_status").exists():
            return {"pid": pid, "start_time": None}
        if _is_wrapper_of(pid, run_dir):
            return {"pid": pid, "start_time": procs.start_time(pid)}
        return None

    async def cancel(self, run: Run, handle: dict, grace: float) -> None:
        pid, started = handle["pid"], handle.get("start_time")
        if not procs.is_same(pid, started):
            return
        procs.signal_tree(pid, signal.SIGTERM)
        if await procs.wait_exit(pid, started, timeout=grace):
            leftovers = procs.tree(pid) - {pid}
            if not leftovers:
                return
        procs.signal_tree(pid, signal.SIGKILL)

    async def gpus(self):
        return await asyncio.to_thread(gpu_detection.detect)

    async def close(self) -> None:
        self._children.clear()


def prepare_wrapper_files(run_dir: Path) -> None:
    """The files the wrapper writes, made empty and private (0600) before it starts: it
    runs with the user's umask, and writes into them without changing their mode."""
    for name in ("pid", "exit_status.tmp"):
        os.close(os.open(run_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))


def _is_wrapper_of(pid: int, run_dir: Path) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    return os.fsencode(WRAPPER) in argv and os.fsencode(run_dir) in argv


EXECUTOR = LocalExecutor
