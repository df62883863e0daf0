"""The local target: runs as processes on this machine, each in its own session.

A run is `sh runwrap.sh RUN_DIR WORKDIR -- COMMAND...` started with setsid, its output
appended straight to RUN_DIR/output.log (no pipe through the engine, so the engine can
die without touching the run). The engine knows the run by pid plus process start time,
waits on it with a pidfd, and reads the wrapper's exit_status file when it ends.

A run's code folder is a private copy of its snapshot, or an overlay on the snapshot's
shared tree (core.executors.overlay): the target's `code` option says which ("auto": an
overlay for a big snapshot where the kernel allows one, "copy", "overlay").

A run's processes are those of its own cgroup where the engine can make one, else its
process tree, session and group plus the processes that carry its folder in their
environment (core.executors.cgroup): a daemon it double-forked is one of them.
Cancel: SIGTERM to all of them, `grace` seconds for them to end, then SIGKILL to whatever
is left; the wrapper is reaped when this engine started it. A run that ends while
processes it started still run (a daemon, `cmd &`) has them ended the same way, with
LEFTOVER_GRACE, and says which in its history.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from core import gpus as gpu_detection
from core.executors import cgroup, folder_files, overlay, procs
from core.config import TargetConfig
from core.errors import ConfigError, ExecutorError
from core.executors.base import Context, Executor, Exit, describe_code, parse_status
from core.executors.cgroup import RunGroups
from core.models import Listing, Run
from core.paths import WRAPPER
from core.store import trees
from core.store.snapshot import manifest, private_copy


log = logging.getLogger("runyard.engine")

# Seconds the processes a run left running get between SIGTERM and SIGKILL after it ended.
LEFTOVER_GRACE = 5.0


def check_options(path: Path, where: str, options: dict) -> dict:
    for key, value in options.items():
        if key != "code":
            raise ConfigError(f"{path}: {where}.{key}: unknown key",
                              hint="local targets take kind, max_parallel, gpus, gpu_share "
                                   "and code")
        if value not in overlay.MODES:
            raise ConfigError(f"{path}: {where}.code: {value!r} is not a code mode",
                              hint="one of " + ", ".join(f'"{m}"' for m in overlay.MODES))
    return options


class LocalExecutor(Executor):
    kind = "local"
    takes_shell_env = True          # a run gets the environment of the shell it was launched from
    run_folders_here = True

    def __init__(self, target: TargetConfig, context: Context):
        super().__init__(target, context)
        self._children: dict[int, subprocess.Popen] = {}
        self.groups = RunGroups(context.paths.home)
        self.code_mode: str = target.options.get("code", "auto")
        self._big: dict[str, bool] = {}                 # snapshot id: big enough for "auto"
        self._overlay_problem: str | None = None
        self._overlay_tried = False

    async def start(self, run: Run, env: dict[str, str]) -> dict:
        run_dir = self.context.paths.run_dir(run.id)
        code_dir = run_dir / "code"
        try:
            lower = await asyncio.to_thread(self._prepare, run, run_dir, code_dir)
        except OSError as exc:
            raise ExecutorError(f"cannot prepare the run folder {run_dir}: {exc.strerror or exc}",
                                target=self.target.name) from None
        workdir = code_dir / run.workdir if run.workdir else code_dir
        argv = ["/bin/sh", str(WRAPPER), str(run_dir), str(workdir), "--", *run.spec.command]
        if lower is not None:
            argv = overlay.command(lower, code_dir, run_dir / overlay.WORK, argv)
        try:
            with open(run_dir / "output.log", "ab") as log:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=run_dir,
                    start_new_session=True, close_fds=True,
                    umask=-1 if self.context.run_umask is None else self.context.run_umask)
        except OSError as exc:
            raise ExecutorError(f"cannot start /bin/sh: {exc.strerror or exc}",
                                target=self.target.name) from None
        self._children[proc.pid] = proc
        return {"pid": proc.pid, "start_time": procs.start_time(proc.pid)}

    def _prepare(self, run: Run, run_dir: Path, code_dir: Path) -> Path | None:
        """The run folder made ready; the shared tree to mount under its code folder, or
        None where the code folder is a private copy."""
        run_dir.mkdir(parents=True, exist_ok=True)
        for leftover in ("exit_status", "exit_status.tmp", "pid"):
            (run_dir / leftover).unlink(missing_ok=True)
        prepare_wrapper_files(run_dir)
        procs_file = self.groups.create(run.id)
        cgroup_note = run_dir / "cgroup"
        if procs_file is None:
            cgroup_note.unlink(missing_ok=True)
        else:
            cgroup_note.write_text(f"{procs_file}\n")
        lower = self._overlay_tree(run)
        if lower is not None:
            overlay.prepare(run_dir, lower)
            return lower
        (run_dir / overlay.MARK).unlink(missing_ok=True)
        overlay.remove(run_dir / overlay.WORK)
        private_copy(run.snapshot, self.context.blobs, code_dir)
        return None

    def _overlay_tree(self, run: Run) -> Path | None:
        """The snapshot's shared tree when the run's code folder is to be an overlay on it."""
        if self.code_mode == "copy" or not run.snapshot:
            return None
        if self.code_mode == "auto":
            if run.snapshot not in self._big:
                self._big[run.snapshot] = overlay.big(manifest(run.snapshot, self.context.blobs))
            if not self._big[run.snapshot]:
                return None
        if not self._overlay_tried:
            self._overlay_problem = overlay.problem(self.context.paths.trees)
            self._overlay_tried = True
            if self._overlay_problem is not None:
                log.warning("target %s: big snapshots' runs get private copies, not overlays: "
                            "%s", self.target.name, self._overlay_problem)
        if self._overlay_problem is not None:
            if self.code_mode == "overlay":
                raise ExecutorError(f"cannot give run {run.id} an overlay code folder: "
                                    f"{self._overlay_problem}", target=self.target.name,
                                    hint=f'set targets.{self.target.name}.code = "copy" or '
                                         '"auto" (a private copy)')
            return None
        return trees.tree(run.snapshot, self.context.blobs, self.context.paths.trees)

    async def wait(self, run: Run, handle: dict) -> Exit:
        pid, started = handle["pid"], handle.get("start_time")
        await procs.wait_exit(pid, started)
        outcome = self._outcome(run, pid)
        run_dir = self.context.paths.run_dir(run.id)
        procs_file = _procs_file(run_dir)
        # The wrapper's pid may be someone else's by now: its cgroup and its mark only.
        left = cgroup.run_processes(None, run_dir, procs_file)
        if left:
            described = cgroup.describe(left)
            await _end(left, None, run_dir, procs_file, LEFTOVER_GRACE)
            outcome = dataclasses.replace(outcome, leftovers=described)
        cgroup.remove(procs_file)
        await asyncio.to_thread(overlay.finish, run_dir)
        return outcome

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
        run_dir = self.context.paths.run_dir(run.id)
        procs_file = _procs_file(run_dir)
        root = pid if procs.is_same(pid, started) else None
        members = cgroup.run_processes(root, run_dir, procs_file)
        if members:
            await _end(members, root, run_dir, procs_file, grace)

    # ------------------------------------------------------------ a run's files
    # An overlay code folder holds the run's changes only: these read the merged view.

    def _layers(self, run: Run) -> overlay.Layers | None:
        if not run.snapshot:
            return None                 # no snapshot, no tree: never an overlay
        return overlay.layers(self.context.paths.run_dir(run.id),
                              self.context.paths.trees / run.snapshot)

    async def list_files(self, run: Run, handle: dict) -> Listing:
        layers = self._layers(run)
        if layers is None:
            return await super().list_files(run, handle)
        return await asyncio.to_thread(layers.listing)

    async def hash_files(self, run: Run, handle: dict, paths: list[str]) -> dict[str, str]:
        layers = self._layers(run)
        return await asyncio.to_thread(folder_files.hash_paths, self.code_folder(run), paths,
                                       layers.locate if layers else None)

    def fetch_files(self, run: Run, handle: dict, wanted: list[tuple[str, int]]):
        layers = self._layers(run)
        return folder_files.read_files(self.code_folder(run), wanted,
                                       layers.locate if layers else None)

    def file_address(self, run: Run, handle: dict, path: str) -> str:
        """An overlay run's file or folder where its upper layer holds all of it; else ""
        (no address: resume_path says copy it): a folder spread over both layers has no one
        path, and one in the shared tree must not be handed to a run that might write it."""
        layers = self._layers(run)
        if layers is None:
            return str(self.code_folder(run) / path)
        found = layers.locate(path) or layers.folder(path)
        return "" if found is None or found.is_relative_to(layers.lower) else str(found)

    async def resume_path(self, run: Run, location: str, address: str) -> str | None:
        return await super().resume_path(run, location, address) if address else None

    async def gpus(self):
        return await asyncio.to_thread(gpu_detection.detect)

    async def close(self) -> None:
        self._children.clear()
        self.groups.close()


async def _end(members: set[int], root: int | None, run_dir: Path, procs_file: Path | None,
               grace: float) -> None:
    """SIGTERM to every process of the run, up to `grace` seconds for them all to end, then
    SIGKILL to what is left (its whole cgroup at once where there is one)."""
    if root is not None:
        procs.signal_tree(root, signal.SIGTERM)
    cgroup.signal_all(members, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        left = cgroup.run_processes(root, run_dir, procs_file)
        if not left:
            return
        await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    left = cgroup.run_processes(root, run_dir, procs_file)
    if root is not None:
        procs.signal_tree(root, signal.SIGKILL)
    cgroup.kill_all(procs_file, left)


def _procs_file(run_dir: Path) -> Path | None:
    """The run's cgroup.procs, as the engine wrote it for the wrapper (None: no cgroup)."""
    try:
        text = (run_dir / "cgroup").read_text().strip()
    except OSError:
        return None
    return Path(text) if text else None


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
