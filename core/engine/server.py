"""The engine: one long-lived asyncio process per store that schedules and supervises runs.

It listens on a unix socket for requests (one JSON line each way; see core.protocol),
is the only writer of the database, and holds `engine.lock` while it lives. Started by
`tui` on demand (core.client), or by hand with `python -m core.engine` (core.engine.startup).
Stopping it (SIGTERM, `tui engine stop`) or killing it never stops a run.

The socket is bound with umask 077 in a folder only this user can enter, and a
connection from another user (SO_PEERCRED) is refused before its request is read. While a
request is worked on, a heartbeat line goes to the client every HEARTBEAT seconds, so a
client can tell a busy engine from a stopped one.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import core
from core import protocol, requests
from core.engine import cancelling, connection
from core.store import queries as run_queries
from core.store import queue_queries
from core.store.blobs import BlobStore
from core.errors import EngineError, RunyardError, StoreError
from core.executors.base import Context, Exit
from core.engine.intake import Intake
from core.store.ledger import Ledger
from core.models import RunState, iso_from_epoch, now_iso
from core.paths import StorePaths
from core.engine.queue_gate import QueueGate
from core.engine.resuming import Resumer
from core.engine.run_files import RunFiles
from core.engine.removal import Removal
from core.engine.reparse import reparse
from core.engine.runner import Runner
from core.engine.search import Searches
from core.engine.notify import Notifier
from core.engine.scheduler import Busy, fits, place
from core.engine.store_guard import CHECK_INTERVAL as GUARD_INTERVAL
from core.engine.store_guard import DatabaseGuard
from core.store import integrity
from core.store.db import database_error
from core.engine.targets import Registry
from core.engine.watching import Watches
from core.engine.target_service import TargetService

log = logging.getLogger("runyard.engine")

# How soon the scheduler looks again at a target that could not be prepared.
PREPARE_RETRY_WAKE = 16.0
# How soon the scheduler looks again when the store refused to record a start.
SCHEDULE_RETRY = 2.0
# How long the engine remembers what a launch request did, by its id (core.client resends).
REQUEST_MEMORY = 7 * 24 * 3600.0


class AlreadyRunning(Exception):
    """Another engine holds this store's lock."""


class Engine:
    def __init__(self, paths: StorePaths, idle_exit: float = 0.0, on_serving=None,
                 run_umask: int | None = None):
        self.paths = paths
        self.idle_exit = idle_exit
        self.on_serving = on_serving        # called once requests are answered
        self.run_umask = run_umask          # the umask runs get (the launching shell's)
        self.started_at = now_iso()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._last_activity = time.monotonic()
        self._preparing: dict[str, asyncio.Task] = {}
        self._lock_file: TextIO | None = None
        self._server: asyncio.Server | None = None
        # One handler per op of core.requests.REQUESTS; each gets the typed request.
        self._ops: dict[str, Callable[[Any, Any], Awaitable[dict]]] = {
                     "ping": self.op_ping, "launch": self.op_launch, "cancel": self.op_cancel,
                     "wait": self.op_wait, "status": self.op_status,
                     "stop": self.op_stop, "remove": self.op_remove,
                     "targets": lambda request, _: self.target_service.op_targets(request),
                     "reparse": self.op_reparse,
                     # workflows (core.engine.intake, core.engine.watching): no writer needed
                     "clone": lambda request, _: self.intake.op_clone(request),
                     "plan": lambda request, _: self.intake.op_plan(request),
                     "watches": lambda request, _: self.watches.op_list(request),
                     "unwatch": lambda request, _: self.watches.op_stop(request),
                     # a run's files (core.engine.run_files)
                     "files": self.op_files, "pull": self.op_pull,
                     # adaptive searches (core.engine.search)
                     "search_stop": lambda request, _: self.searches.op_stop(request),
                     "search_extend": lambda request, _: self.searches.op_extend(request)}

    # ------------------------------------------------------------ lifecycle

    async def serve(self) -> None:
        self.paths.ensure()
        self._take_lock()
        try:
            await self._serve_locked()
        finally:
            self._release()

    async def _serve_locked(self) -> None:
        integrity.check_missing_database(self.paths)
        self.ledger = Ledger.open(self.paths.db)
        try:
            integrity.check_matches(self.ledger.conn, self.paths)
        except StoreError:
            self.ledger.close()
            raise
        self.guard = DatabaseGuard(self.paths, self.ledger.conn)
        try:
            self.ledger.forget_requests(iso_from_epoch(time.time() - REQUEST_MEMORY))
        except StoreError as exc:                   # busy or full: next start, then
            log.warning("old request ids stay for now: %s", exc.message)
        self.blobs = BlobStore(self.paths.blobs)
        self.hashes = run_queries.file_hashes(self.ledger.conn)
        self.registry = Registry(self.ledger, Context(
            self.paths, self.blobs, on_health=self._target_health,
            on_detail=lambda *args: self.runner.note_detail(*args), run_umask=self.run_umask))
        self.runner = Runner(self.ledger, self.registry, self.paths, self.blobs, self.wake)
        self.files = RunFiles(self.ledger, self.registry, self.paths, self.blobs)
        resumer = Resumer(self.ledger, self.registry, self.files, self.paths)
        self.runner.resumer = resumer
        self.gate = QueueGate(self.ledger, self.runner, self.wake)
        self.intake = Intake(self.ledger, self.registry, self.paths, self.blobs, self.hashes,
                             self.wake, resumer)
        self.notifier = Notifier(self.ledger, self.blobs, self.paths)
        self.runner.on_ended = self._run_ended
        self.watches = Watches(self.ledger, self.intake, self.runner, self.paths)
        self.searches = Searches(self.ledger, self.intake, self.runner, self.registry,
                                 self.paths, self.gate)
        self.intake.searches = self.searches
        self.runner.metrics.follower = self.searches
        self.removal = Removal(self.ledger, self.registry, self.paths)
        self.target_service = TargetService(self.ledger, self.registry, self.runner)
        socket_path = self.paths.prepare_socket()
        socket_path.unlink(missing_ok=True)
        umask = os.umask(0o077)           # private from the moment it exists
        try:
            self._server = await asyncio.start_unix_server(self._handle, path=str(socket_path),
                                                           limit=protocol.MAX_LINE)
        finally:
            os.umask(umask)
        os.chmod(socket_path, 0o600)
        self._write_info(socket_path)
        if self.on_serving is not None:
            self.on_serving()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        await self.runner.recover()
        await self.searches.resume()
        self.watches.resume()
        background = [loop.create_task(self._schedule_loop(), name="scheduler"),
                      loop.create_task(self.runner.ingest_loop(), name="ingest"),
                      loop.create_task(self.target_service.gpu_loop(), name="gpu-poll"),
                      loop.create_task(self._guard_loop(), name="database-guard")]
        if self.idle_exit > 0:
            background.append(loop.create_task(self._idle_watch(), name="idle-exit"))
        for task in background:
            task.add_done_callback(self._background_done)
        self.wake()
        log.info("engine %s serving %s (pid %s)", core.__version__, self.paths.home, os.getpid())
        await self._stop.wait()
        log.info("engine stopping; runs keep running")
        self._server.close()
        await self.watches.close()
        await self.searches.close()
        await self.notifier.close()
        await self.files.close()
        pending = [*background, *self.runner.tasks.values(), *self.removal.forgetting]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.registry.close()
        self.ledger.close()

    def _background_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed; stopping the engine", task.get_name(),
                      exc_info=task.exception())
            self._stop.set()

    def _take_lock(self) -> None:
        self._lock_file = open(self.paths.lock, "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise AlreadyRunning(str(self.paths.home)) from None

    def _write_info(self, socket_path: Path) -> None:
        info = {"pid": os.getpid(), "version": core.__version__, "started_at": self.started_at,
                "socket": str(socket_path), "home": str(self.paths.home)}
        tmp = self.paths.engine_info.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.paths.engine_info)

    def _release(self) -> None:
        if self._server is not None:
            self.paths.socket.unlink(missing_ok=True)
            self.paths.engine_info.unlink(missing_ok=True)
        if self._lock_file is not None:
            self._lock_file.close()

    async def _idle_watch(self) -> None:
        while True:
            await asyncio.sleep(min(self.idle_exit, 5.0))
            if run_queries.active_count(self.ledger.conn) or self.watches.active() or \
                    self.searches.active():
                self._last_activity = time.monotonic()
            elif time.monotonic() - self._last_activity > self.idle_exit:
                log.info("idle for %.0f s; exiting", self.idle_exit)
                self._stop.set()
                return

    async def _guard_loop(self) -> None:
        """Stop when the database file is deleted or replaced under us (store_guard)."""
        while self.guard.check() is None:
            await asyncio.sleep(GUARD_INTERVAL)
        self._stop.set()

    def _run_ended(self, run) -> None:
        """A run ended for good (not an attempt that is retried)."""
        self.intake.run_ended(run)
        self.searches.run_ended(run)
        self.notifier.run_ended(run)
        self.files.run_ended(run)

    # ------------------------------------------------------------ scheduling

    def wake(self) -> None:
        self._wake.set()

    async def _schedule_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._schedule_once()
            except StoreError as exc:       # busy or full: nothing started; look again soon
                log.debug("scheduling waits: %s", exc.message)
                asyncio.get_running_loop().call_later(SCHEDULE_RETRY, self.wake)

    async def _schedule_once(self) -> None:
        """One pass: place the runs that may start (core.engine.queue_gate keeps them
        indexed, so a pass reads each target's lane only as far as it has free slots)."""
        conn = self.ledger.conn
        lanes = self.gate.ready()
        if not lanes:
            return
        busy = [Busy(target, gpus) for target, gpus in queue_queries.running_placements(conn)]
        for name, lane in lanes.items():
            runtime = self.registry.get(name)
            if runtime is None:
                for item in list(lane.items.values()):
                    self.gate.leave(item.run_id)
                    self.runner.finish(item.run_id, _failed(f"unknown target {name!r}"))
                continue
            if not runtime.ready:
                self._prepare_in_background(runtime)   # a slow box never holds up the others
                continue
            if not runtime.available():
                continue                  # unreachable for now: its runs wait, health wakes us
            capacity = runtime.capacity()
            for gpus in list(lane.asking_gpus):          # once per GPU count, not per run
                if problem := fits(capacity, gpus):
                    for run_id in list(lane.asking_gpus[gpus]):
                        self.gate.leave(run_id)
                        self.runner.finish(run_id, _failed(problem))
            for placement in place(lane.ordered(), busy, {name: capacity}, lane.hold_gpus):
                self.gate.leave(placement.run_id)
                run = run_queries.get_run(conn, placement.run_id)
                if run.state is not RunState.QUEUED:
                    continue
                self.runner.launch(run, self.registry.known(placement.target), placement.gpu_ids)

    def _prepare_in_background(self, runtime) -> None:
        name = runtime.config.name
        if name in self._preparing and not self._preparing[name].done():
            return

        async def prepare() -> None:
            await runtime.prepare()
            if runtime.ready:
                self.wake()
            elif runtime.failure is not None:
                # Tried again after the retry delay, or at once when the box comes back.
                asyncio.get_running_loop().call_later(PREPARE_RETRY_WAKE, self.wake)

        self._preparing[name] = asyncio.get_running_loop().create_task(
            prepare(), name=f"prepare {name}")

    def _target_health(self, name: str, status: str, message: str | None) -> None:
        """A remote target's health changed: record it, and let the scheduler look again."""
        try:
            self.ledger.target_status(name, status, message)
        except StoreError as exc:
            log.warning("cannot record the health of target %s: %s", name, exc.message)
        runtime = self.registry.runtimes.get(name)
        if runtime is not None and status == "ok":
            runtime.retry_now()
        self.wake()

    # ------------------------------------------------------------ requests

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._last_activity = time.monotonic()
        try:
            uid = connection.peer_uid(writer)
            if uid != os.getuid():
                log.warning("refused a connection from uid %s", uid)
                raise EngineError(f"this engine serves uid {os.getuid()} only",
                                  hint="use a store of your own (RUNYARD_HOME)")
            if (lost := self.guard.check()) is not None:
                self._stop.set()
                raise lost
            request = await connection.read_request(reader)
            if connection.hung_up(writer):
                log.warning("not carrying out a %s request: its client hung up before the "
                            "engine read it (it gave up waiting)", request.OP)
                return
            reply = await connection.with_heartbeats(self._ops[request.OP](request, writer), writer)
            await connection.write_message(writer, {"ok": True, **reply})
        except RunyardError as exc:
            await connection.reply_error(writer, exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.info("client went away")
        except sqlite3.DatabaseError as exc:       # damaged under us: say so, as readers do
            log.error("the store's database failed a request: %s", exc)
            await connection.reply_error(writer, database_error(self.paths.db, exc))
        except Exception as exc:  # report to the client, keep serving others
            log.exception("request failed")
            failed = EngineError(f"the engine failed on this request: {exc!r}",
                                 hint=f"see {self.paths.engine_log}")
            await connection.reply_error(writer, failed)
        finally:
            writer.close()

    async def op_ping(self, request, writer) -> dict:
        return {"pid": os.getpid(), "version": core.__version__}

    async def op_status(self, request, writer) -> dict:
        counts = run_queries.count_by_state(self.ledger.conn)
        return {"pid": os.getpid(), "version": core.__version__, "started_at": self.started_at,
                "home": str(self.paths.home), "socket": str(self.paths.socket),
                "runs": counts, "supervising": len(self.runner.tasks)}

    async def op_stop(self, request, writer) -> dict:
        asyncio.get_running_loop().call_soon(self._stop.set)
        return {"pid": os.getpid()}

    async def op_launch(self, request: requests.LaunchRequest, writer) -> dict:
        if request.watch:
            return await self.watches.create(request)
        return await self.intake.op_launch(request)

    async def op_cancel(self, request: requests.CancelRequest, writer) -> dict:
        return await cancelling.cancel(self.runner, list(request.ids))

    async def op_remove(self, request: requests.RemoveRequest, writer) -> dict:
        return await self.removal.op_remove(request)

    async def op_reparse(self, request: requests.ReparseRequest, writer) -> dict:
        """Read ended runs' metrics anew with their projects' rules now (core.engine.reparse)."""
        return {"runs": await reparse(self.ledger, self.paths, list(request.ids),
                                      dict(request.env))}

    async def op_files(self, request: requests.FilesRequest, writer) -> dict:
        run = run_queries.get_run(self.ledger.conn, request.id)
        return await self.files.listing(run, request.all, request.hashes)

    async def op_pull(self, request: requests.PullRequest, writer) -> dict:
        run = run_queries.get_run(self.ledger.conn, request.id)
        return await self.files.pull(run, request.paths, request.to, request.all)

    async def op_wait(self, request: requests.WaitRequest, writer) -> dict:
        conn = self.ledger.conn
        ids = [run_queries.get_run(conn, run_id).id for run_id in request.ids]
        # as_completed watches each run once; asyncio.wait in a loop re-registered every
        # pending run at each end (quadratic: seconds of engine time for 2,000 ids).
        for finished in asyncio.as_completed([self.runner.until_finished(run_id)
                                              for run_id in ids]):
            run = await finished
            if request.stream:
                await connection.write_message(
                    writer, {"event": "finished", "run": run_queries.run_json(conn, run.id)})
        return {"runs": [run_queries.run_json(conn, run_id) for run_id in ids]}


def _failed(reason: str):
    return Exit(exit_code=None, reason=reason)
