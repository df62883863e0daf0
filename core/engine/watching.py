"""Watch triggers: `tui launch --watch PATH -- CMD` relaunches CMD when files under PATH change.

Rules (also in the README):
- A watch launches its command once when created, then again after each change: file
  events are collected until none came for `debounce` seconds (default 1), so a burst
  of events (a checkout, a data drop of 100 files) is one relaunch.
- Each relaunch snapshots the project as it is then and always runs (no caching: the
  change may be in data outside the snapshot).
- When its previous run is still queued, a newer change replaces it (that run is
  cancelled with cause `replaced`) instead of stacking another run behind it.
- Watches live in the engine and in the store: they outlast the CLI that made them, and
  an engine that starts again resumes them, relaunching once if the watched files changed
  while no engine was running (a fingerprint of names, sizes and mtimes tells).
- Ignored: the store itself, and what watchfiles' DefaultFilter ignores (.git,
  __pycache__, editor swap files...). `tui watch list` shows them, `tui watch stop` ends one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path

import watchfiles

from core.store import queries as run_queries
from core.errors import RunyardError, UnknownRun, UsageError
from core.engine.intake import Intake
from core.engine.launching import Batch, Group
from core.store.ledger import Ledger
from core.models import RunState, default_name
from core.paths import StorePaths
from core.engine.runner import Runner
from core.requests import LaunchRequest, UnwatchRequest, WatchesRequest

log = logging.getLogger("runyard.engine")

DEFAULT_DEBOUNCE = 1.0
RETRY_AFTER = 2.0           # a watcher that failed (folder gone) tries again after this
_IGNORED_DIRS = {".git", "__pycache__", ".venv", "node_modules", ".mypy_cache",
                 ".pytest_cache", ".hg", ".svn", ".tox", ".idea", ".hypothesis"}


@dataclass
class _Live:
    """What the engine knows about a watch beyond its row."""

    kick: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    changes: int = 0            # events since the last relaunch
    pending: bool = False       # changes seen, relaunch not done yet
    task: asyncio.Task | None = None


class Watches:
    def __init__(self, ledger: Ledger, intake: Intake, runner: Runner, paths: StorePaths):
        self.ledger = ledger
        self.intake = intake
        self.runner = runner
        self.paths = paths
        self.live: dict[int, _Live] = {}

    def active(self) -> bool:
        return bool(self.live)

    # ------------------------------------------------------------ requests

    async def create(self, req: LaunchRequest) -> dict:
        if req.sweep or req.file:
            raise UsageError("--watch relaunches one command; it does not take --sweep or "
                             "--file")
        debounce = DEFAULT_DEBOUNCE if req.debounce is None else req.debounce
        if debounce < 0:
            raise UsageError(f"--debounce {debounce}: expected 0 or more seconds")
        paths = [str(Path(req.cwd, p).resolve()) for p in req.watch]
        for path in paths:
            if not os.path.exists(path):
                raise UsageError(f"--watch {path}: no such file or folder")
        stored = req.replace(watch=[], force=True)       # what each relaunch asks for
        batch = await self.intake.prepare_launch(stored)
        await self.intake.runtimes(batch, learn=True)       # refused before anything is kept
        name = req.name or default_name(req.argv)
        group_id = self.ledger.insert_group("watch", name, {"paths": paths, "command": req.argv})
        watch_id = self.ledger.insert_watch(group_id, paths, stored.to_dict(), debounce)
        run_id = await self._record(watch_id, group_id, batch, stored)
        self._start(watch_id)
        reply = self.intake.reply([run_id], [], batch.warnings, full=True)
        reply["watch"] = self.describe(watch_id)[0]
        return reply

    async def op_list(self, request: WatchesRequest) -> dict:
        return {"watches": self.describe()}

    async def op_stop(self, request: UnwatchRequest) -> dict:
        return {"watches": [await self.stop(watch_id) for watch_id in request.ids]}

    async def stop(self, watch_id: int) -> dict:
        row = self._row(watch_id)
        live = self.live.pop(watch_id, None)
        if live is not None:
            await _end(live)
        if row["state"] == "active":
            self.ledger.stop_watch(watch_id)
        return self.describe(watch_id)[0]

    def _row(self, watch_id: int) -> sqlite3.Row:
        """The watch's row (a stopped watch keeps its row, so only a wrong id has none)."""
        row = run_queries.watch(self.ledger.conn, watch_id)
        if row is None:
            raise UnknownRun(f"no watch with id {watch_id}", hint="list them: tui watch list")
        return row

    def describe(self, watch_id: int | None = None) -> list[dict]:
        out = []
        for row in run_queries.watches(self.ledger.conn, watch_id):
            live = self.live.get(row["id"])
            request = json.loads(row["request"])
            out.append({"id": row["id"], "group": row["group_id"],
                        "paths": json.loads(row["paths"]), "command": request.get("argv", []),
                        "cwd": request.get("cwd"), "state": row["state"],
                        "debounce": row["debounce"], "created_at": row["created_at"],
                        "stopped_at": row["stopped_at"], "triggers": row["triggers"],
                        "changes": row["changes"] + (live.changes if live else 0),
                        "pending": bool(live and live.pending), "last_run": row["last_run"],
                        "last_error": row["last_error"]})
        return out

    # ------------------------------------------------------------ engine life

    def resume(self) -> None:
        """Start watching again after an engine start; relaunch for changes made meanwhile."""
        for row in run_queries.watches(self.ledger.conn):
            if row["state"] == "active":
                self._start(row["id"], fingerprint=row["fingerprint"])

    async def close(self) -> None:
        for live in list(self.live.values()):
            await _end(live)
        self.live.clear()

    def _start(self, watch_id: int, fingerprint: str | None = None) -> None:
        live = self.live[watch_id] = _Live()
        live.task = asyncio.get_running_loop().create_task(
            self._run(watch_id, live, fingerprint), name=f"watch-{watch_id}")
        live.task.add_done_callback(_report)

    async def _run(self, watch_id: int, live: _Live, fingerprint: str | None) -> None:
        row = self._row(watch_id)
        paths = json.loads(row["paths"])
        skip = str(self.paths.home)
        if fingerprint is not None and \
                await asyncio.to_thread(_fingerprint, paths, skip) != fingerprint:
            live.pending = True
            live.kick.set()
        relauncher = asyncio.get_running_loop().create_task(
            self._relaunch_after_quiet(watch_id, live, float(row["debounce"])),
            name=f"watch-{watch_id}-relaunch")
        try:
            while not live.stop.is_set():
                try:
                    await self._watch(paths, live)
                except (OSError, RuntimeError) as exc:       # a watched folder went away
                    self.ledger.watch_error(watch_id, f"watching failed: {exc}")
                    log.warning("watch %s: %s", watch_id, exc)
                    try:
                        await asyncio.wait_for(live.stop.wait(), RETRY_AFTER)
                    except asyncio.TimeoutError:
                        continue
        finally:
            relauncher.cancel()
            await asyncio.gather(relauncher, return_exceptions=True)

    async def _watch(self, paths: list[str], live: _Live) -> None:
        existing = [p for p in paths if os.path.exists(p)]
        if not existing:
            raise OSError(f"none of {', '.join(paths)} exists")
        ignore = watchfiles.DefaultFilter(ignore_paths=[str(self.paths.home)])
        async for changes in watchfiles.awatch(*existing, watch_filter=ignore, debounce=400,
                                               step=50, stop_event=live.stop,
                                               ignore_permission_denied=True):
            live.changes += len(changes)
            live.pending = True
            live.kick.set()

    async def _relaunch_after_quiet(self, watch_id: int, live: _Live, debounce: float) -> None:
        while True:
            await live.kick.wait()
            live.kick.clear()
            while True:                                   # wait for `debounce` s of quiet
                try:
                    await asyncio.wait_for(live.kick.wait(), debounce)
                except asyncio.TimeoutError:
                    break
                live.kick.clear()
            await self.relaunch(watch_id, live)
            live.pending = live.kick.is_set()

    # ------------------------------------------------------------ relaunching

    async def relaunch(self, watch_id: int, live: _Live) -> None:
        row = self._row(watch_id)
        try:
            stored = stored_request(row["request"])
            batch = await self.intake.prepare_launch(stored)
            await self._record(watch_id, row["group_id"], batch, stored, changes=live.changes)
        except RunyardError as exc:
            self.ledger.watch_error(watch_id, f"relaunch failed: {exc.message}")
            log.warning("watch %s: relaunch failed: %s", watch_id, exc.message)
        live.changes = 0

    async def _record(self, watch_id: int, group_id: int, batch: Batch,
                      stored: LaunchRequest, changes: int = 0) -> int:
        batch.groups.append(Group("watch", "", {}, id=group_id))
        batch.runs = [replace(planned, group=len(batch.groups) - 1) for planned in batch.runs]
        ids, _reuse = await self.intake.record(batch, force=True, base_env=stored.env)
        run_id = ids[0]
        row = self._row(watch_id)
        previous = row["last_run"]
        if previous is not None:
            try:
                earlier = run_queries.get_run(self.ledger.conn, previous)
            except UnknownRun:
                earlier = None
            if earlier is not None and earlier.state is RunState.QUEUED:
                self.runner.replace_queued(earlier, run_id)
        fingerprint = await asyncio.to_thread(_fingerprint, json.loads(row["paths"]),
                                              str(self.paths.home))
        self.ledger.watch_triggered(watch_id, run_id, fingerprint, changes)
        return run_id


# The run policy's fields, as a watch stored them before they travelled as one value.
_FLAT_POLICY_KEYS = ("after", "retries", "retry_on", "retry_delay", "stop_if", "checkpoints")


def stored_request(text: str) -> LaunchRequest:
    """A watch's launch request as the store keeps it; one stored by an earlier runyard
    (policy fields at the top) reads the same."""
    data = json.loads(text)
    if isinstance(data, dict) and "policy" not in data:
        data["policy"] = {key: data.pop(key) for key in _FLAT_POLICY_KEYS if key in data}
    return LaunchRequest.from_dict(data, "stored watch request")


async def _end(live: _Live) -> None:
    live.stop.set()
    if live.task is not None:
        try:
            await asyncio.wait_for(asyncio.shield(live.task), 10)
        except asyncio.TimeoutError:
            live.task.cancel()


def _report(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())


def _fingerprint(paths: list[str], skip: str) -> str:
    """A digest of the names, sizes and mtimes of the watched files (ignored folders and
    the store `skip` left out)."""
    digest = hashlib.sha256()
    for root in sorted(paths):
        if os.path.isfile(root):
            info = os.stat(root)
            digest.update(os.fsencode(f"{root}\0{info.st_size}\0{info.st_mtime_ns}\n"))
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS
                             and os.path.join(folder, d) != skip)
            for name in sorted(files):
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                digest.update(os.fsencode(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n"))
    return digest.hexdigest()
