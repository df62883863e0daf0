"""`tui rm`: ended runs go from the store, their folders from this machine and their boxes."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import stat
from pathlib import Path

from core import requests
from core.engine.run_files import remove_pulled
from core.engine.targets import Registry
from core.errors import RunyardError
from core.paths import StorePaths
from core.store import queries as run_queries
from core.store.ledger import Ledger

log = logging.getLogger("runyard.engine")


class Removal:
    def __init__(self, ledger: Ledger, registry: Registry, paths: StorePaths):
        self.ledger = ledger
        self.registry = registry
        self.paths = paths
        self.forgetting: set[asyncio.Task] = set()     # remote folders going, in the background

    async def op_remove(self, request: requests.RemoveRequest) -> dict:
        """Remove ended runs (core.store.ledger.Ledger.remove), then their run folders. The
        blobs of their snapshots stay: other runs may share them."""
        conn = self.ledger.conn
        runs = [run_queries.get_run(conn, run_id) for run_id in request.ids]
        pulled = run_queries.pulled_rows(conn, [run.id for run in runs])
        removed = self.ledger.remove([run.id for run in runs])
        folders = [self.paths.run_dir(run["id"]) for run in removed]
        freed, problems = await asyncio.to_thread(_remove_folders, folders)
        copies, kept = await asyncio.to_thread(remove_pulled, pulled, self.paths.runs)
        freed += copies
        problems += kept
        log.info("removed runs %s (%d bytes)", [r["id"] for r in removed], freed)
        remote = [run for run in runs if run.handle and
                  (runtime := self.registry.get(run.spec.target)) is not None and
                  runtime.executor.removes_remote_folders]
        if remote:          # a box may be slow or down: its folders go in the background
            task = asyncio.get_running_loop().create_task(self._forget_remote(remote))
            self.forgetting.add(task)
            task.add_done_callback(self.forgetting.discard)
        notes = [f"the folder of run {run.id} on {run.spec.target} is being removed in the "
                 "background" for run in remote]
        return {"removed": removed, "freed_bytes": freed, "warnings": problems, "notes": notes}

    async def _forget_remote(self, runs) -> None:
        for run in runs:
            runtime = self.registry.get(run.spec.target)
            if runtime is None:                     # forgotten since: nothing to reach
                continue
            try:
                await asyncio.wait_for(runtime.executor.forget(run, run.handle), 120)
            except (RunyardError, OSError, asyncio.TimeoutError) as exc:
                why = exc.message if isinstance(exc, RunyardError) else repr(exc)
                log.warning("run %s: its folder on %s stays: %s", run.id, run.spec.target, why)


def _remove_folders(folders: list[Path]) -> tuple[int, list[str]]:
    """Delete run folders (also what a run made read-only); the bytes freed and, for a
    folder that could not go, why."""

    def writable_then_retry(_function, path, _exc) -> None:
        # Not `_function(path)` again: for a folder of mode 000 it is os.open (which wants
        # flags) or os.scandir (whose listing rmtree would not see); its subtree goes here.
        parent = os.path.dirname(path)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, os.stat(path).st_mode | stat.S_IRWXU)
            shutil.rmtree(path, onerror=writable_then_retry)
        else:
            os.unlink(path)

    freed, problems = 0, []
    for folder in folders:
        if not folder.exists():                  # the run never started: it has no folder
            continue
        freed += _bytes_under(folder)
        try:
            shutil.rmtree(folder, onerror=writable_then_retry)   # onexc: 3.12+
        except OSError as exc:
            problems.append(f"could not delete {folder}: {exc.strerror or exc}")
    return freed, problems


def _bytes_under(folder: Path) -> int:
    """The size of the files under `folder`. A file that cannot be looked at (in a folder
    its run made unreadable) is not counted; it is deleted all the same."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError as exc:
                log.debug("not counted in the space freed: %s", exc)
    return total
