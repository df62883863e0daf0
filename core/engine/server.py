"""The engine: one long-lived asyncio process per store that schedules and supervises runs.

It listens on a unix socket for requests (one JSON line each way; see core.protocol),
is the only writer of the database, and holds `engine.lock` while it lives. Started by
`tui` on demand (core.client), or by hand with `python -m core.engine`.
Stopping it (SIGTERM, `tui engine stop`) or killing it never stops a run.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import core
from core import protocol, requests
from core.store import queries as run_queries
from core.store import queue_queries
from core.store.blobs import BlobStore
from core.errors import EngineError, RunyardError, StoreError
from core.executors.base import Context
from core.engine.intake import Intake
from core.store.ledger import Ledger
from core.models import RunState, now_iso
from core.paths import StorePaths
from core.engine.queue_gate import QueueGate
from core.engine.resuming import Resumer
from core.engine.run_files import RunFiles, remove_pulled
from core.engine.runner import Runner
from core.engine.scheduler import Busy, fits, place
from core.engine.targets import Registry

log = logging.getLogger("runyard.engine")

# How long `cancel` waits past the grace period for a run to be confirmed ended.
CANCEL_SLACK = 30.0
# How long `tui targets` waits for targets to answer (an unreachable box shows as such).
TARGETS_PREPARE_WAIT = 5.0
# How soon the scheduler looks again at a target that could not be prepared.
PREPARE_RETRY_WAKE = 16.0
# How often the live utilisation and memory of GPUs in use are read (for the app's list).
GPU_POLL_INTERVAL = float(os.environ.get("RUNYARD_GPU_POLL", "5") or 5)


class AlreadyRunning(Exception):
    """Another engine holds this store's lock."""


class Engine:
    def __init__(self, paths: StorePaths, idle_exit: float = 0.0):
        self.paths = paths
        self.idle_exit = idle_exit
        self.started_at = now_iso()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._last_activity = time.monotonic()
        self._preparing: dict[str, asyncio.Task] = {}
        self._forgetting: set[asyncio.Task] = set()   # `tui rm`: remote folders going
        self._lock_file = None
        self._server = None
        # One handler per op of core.requests.REQUESTS; each gets the typed request.
        self._ops = {"ping": self.op_ping, "launch": self.op_launch, "cancel": self.op_cancel,
                     "wait": self.op_wait, "status": self.op_status, "targets": self.op_targets,
                     "stop": self.op_stop, "remove": self.op_remove,
                     # workflows (core.engine.intake, core.engine.watching): no writer needed
                     "clone": lambda request, _: self.intake.op_clone(request),
                     "plan": lambda request, _: self.intake.op_plan(request),
                     "watches": lambda request, _: self.watches.op_list(request),
                     "unwatch": lambda request, _: self.watches.op_stop(request),
                     # a run's files (core.engine.run_files)
                     "files": self.op_files, "pull": self.op_pull}

    # ------------------------------------------------------------ lifecycle

    async def serve(self) -> None:
        self.paths.ensure()
        self._take_lock()
        try:
            await self._serve_locked()
        finally:
            self._release()

    async def _serve_locked(self) -> None:
        self.ledger = Ledger.open(self.paths.db)
        self.blobs = BlobStore(self.paths.blobs)
        self.hashes = run_queries.file_hashes(self.ledger.conn)
        self.registry = Registry(self.ledger, Context(
            self.paths, self.blobs, on_health=self._target_health,
            on_detail=lambda *args: self.runner.note_detail(*args)))
        self.runner = Runner(self.ledger, self.registry, self.paths, self.blobs, self.wake)
        self.files = RunFiles(self.ledger, self.registry, self.paths, self.blobs)
        self.runner.resumer = Resumer(self.ledger, self.registry, self.files, self.paths)
        self.gate = QueueGate(self.ledger.conn, self.runner, self.wake)
        self.intake = Intake(self.ledger, self.registry, self.paths, self.blobs, self.hashes,
                             self.wake)
        self.intake.resumer = self.runner.resumer
        from core.engine.notify import Notifier
        from core.engine.watching import Watches
        self.notifier = Notifier(self.ledger, self.blobs, self.paths)
        self.runner.on_ended = self._run_ended
        self.watches = Watches(self.ledger, self.intake, self.runner, self.paths)
        socket_path = self.paths.socket
        socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        socket_path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._handle, path=str(socket_path),
                                                       limit=protocol.MAX_LINE)
        os.chmod(socket_path, 0o600)
        self._write_info(socket_path)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        await self.runner.recover()
        self.watches.resume()
        background = [loop.create_task(self._schedule_loop(), name="scheduler"),
                      loop.create_task(self.runner.ingest_loop(), name="ingest"),
                      loop.create_task(self._gpu_loop(), name="gpu-poll")]
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
        await self.notifier.close()
        await self.files.close()
        pending = [*background, *self.runner.tasks.values(), *self._forgetting]
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
            if run_queries.active_count(self.ledger.conn) or self.watches.active():
                self._last_activity = time.monotonic()
            elif time.monotonic() - self._last_activity > self.idle_exit:
                log.info("idle for %.0f s; exiting", self.idle_exit)
                self._stop.set()
                return

    def _run_ended(self, run) -> None:
        """A run ended for good (not an attempt that is retried)."""
        self.intake.run_ended(run)
        self.notifier.run_ended(run)
        self.files.run_ended(run)

    async def _gpu_loop(self) -> None:
        """Record live GPU figures (`targets.gpus`) of targets that have runs on GPUs."""
        while True:
            await asyncio.sleep(GPU_POLL_INTERVAL)
            for name in queue_queries.targets_with_gpus_in_use(self.ledger.conn):
                runtime = self.registry.get(name)
                if runtime is None or runtime.config.gpus != "auto":
                    continue
                try:
                    gpus, problem = await runtime.executor.gpus()
                    if not queue_queries.target_recorded(self.ledger.conn, name):
                        config = runtime.config
                        self.ledger.upsert_target(name, config.kind, config.to_dict(),
                                                  config.source)
                    self.ledger.target_status(name, "error" if problem else "ok", problem,
                                              [g.to_dict() for g in gpus])
                except RunyardError as exc:
                    log.warning("GPU figures of target %s: %s", name, exc.message)

    # ------------------------------------------------------------ scheduling

    def wake(self) -> None:
        self._wake.set()

    async def _schedule_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._schedule_once()

    async def _schedule_once(self) -> None:
        conn = self.ledger.conn
        rows = queue_queries.queued_runs(conn)
        if not rows:
            return
        waiting = self.gate.ready(rows)
        if not waiting:
            return
        busy = [Busy(target, gpus) for target, gpus in queue_queries.running_placements(conn)]
        capacities = {}
        for name in {w.target for w in waiting}:
            runtime = self.registry.get(name)
            if runtime is None:
                for item in (w for w in waiting if w.target == name):
                    self.runner.finish(item.run_id, _failed(f"unknown target {name!r}"))
                continue
            if not runtime.ready:
                self._prepare_in_background(runtime)   # a slow box never holds up the others
                continue
            if not runtime.available():
                continue                  # unreachable for now: its runs wait, health wakes us
            capacities[name] = runtime.capacity()
        for item in waiting:
            capacity = capacities.get(item.target)
            if capacity is not None and (problem := fits(capacity, item.gpus)):
                self.runner.finish(item.run_id, _failed(problem))
        for placement in place(waiting, busy, capacities):
            run = run_queries.get_run(conn, placement.run_id)
            if run.state is not RunState.QUEUED:
                continue
            self.runner.launch(run, self.registry.get(placement.target), placement.gpu_ids)

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
            request = await _read_request(reader)
            reply = await self._ops[request.OP](request, writer)
            await _write_message(writer, {"ok": True, **reply})
        except RunyardError as exc:
            await _reply_error(writer, exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.info("client went away")
        except Exception as exc:  # report to the client, keep serving others
            log.exception("request failed")
            await _reply_error(writer, EngineError(f"the engine failed on this request: {exc!r}",
                                                   hint=f"see {self.paths.engine_log}"))
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
        """Cancel runs; a run that was retried is cancelled at its last attempt."""
        conn = self.ledger.conn
        ids = [run_queries.get_run(conn, run_id).id for run_id in request.ids]
        latest = queue_queries.latest_attempts(conn, set(ids))
        runs = [run_queries.get_run(conn, latest.get(run_id, (run_id,))[0]) for run_id in ids]
        results = []
        for run in runs:
            if run.state.terminal:
                results.append({"id": run.id, "state": run.state.value, "changed": False})
                continue
            await self.runner.cancel(run)
        active = [run for run in runs if not run.state.terminal]
        grace = max((float(run_queries.options(conn, run.id).get("cancel_grace", 10.0))
                     for run in active), default=0.0)
        waits = [self.runner.until_finished(run.id) for run in active]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout=grace + CANCEL_SLACK)
        except asyncio.TimeoutError:
            log.warning("cancel of %s not confirmed after %.0f s", [r.id for r in active], grace)
        for run in active:
            run = run_queries.get_run(conn, run.id)
            results.append({"id": run.id, "state": run.state.value, "changed": True})
        return {"runs": sorted(results, key=lambda r: r["id"])}

    async def op_remove(self, request: requests.RemoveRequest, writer) -> dict:
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
            self._forgetting.add(task)
            task.add_done_callback(self._forgetting.discard)
        notes = [f"the folder of run {run.id} on {run.spec.target} is being removed in the "
                 "background" for run in remote]
        return {"removed": removed, "freed_bytes": freed, "warnings": problems, "notes": notes}

    async def _forget_remote(self, runs) -> None:
        for run in runs:
            runtime = self.registry.get(run.spec.target)
            try:
                await asyncio.wait_for(runtime.executor.forget(run, run.handle), 120)
            except (RunyardError, OSError, asyncio.TimeoutError) as exc:
                why = exc.message if isinstance(exc, RunyardError) else repr(exc)
                log.warning("run %s: its folder on %s stays: %s", run.id, run.spec.target, why)

    async def op_files(self, request: requests.FilesRequest, writer) -> dict:
        run = run_queries.get_run(self.ledger.conn, request.id)
        return await self.files.listing(run, request.all, request.hashes)

    async def op_pull(self, request: requests.PullRequest, writer) -> dict:
        run = run_queries.get_run(self.ledger.conn, request.id)
        return await self.files.pull(run, request.paths, request.to, request.all)

    async def op_wait(self, request: requests.WaitRequest, writer) -> dict:
        conn = self.ledger.conn
        ids = [run_queries.get_run(conn, run_id).id for run_id in request.ids]
        pending = {asyncio.ensure_future(self.runner.until_finished(run_id)) for run_id in ids}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if request.stream:
                for task in done:
                    run = task.result()
                    await _write_message(
                        writer, {"event": "finished",
                                 "run": run_queries.run_json(conn, run.id)})
        return {"runs": [run_queries.run_json(conn, run_id) for run_id in ids]}

    async def op_targets(self, request: requests.TargetsRequest, writer) -> dict:
        from core import config as configuration
        if request.cwd:
            project = configuration.find_project(request.cwd)
            config = configuration.load(project, request.env)
            self.registry.learn(config.targets)
        counts = queue_queries.active_by_target(self.ledger.conn)
        runtimes = [self.registry.get(name) for name in sorted(self.registry.configs)]
        preparing = [asyncio.ensure_future(runtime.prepare()) for runtime in runtimes]
        await asyncio.wait(preparing, timeout=TARGETS_PREPARE_WAIT)   # the rest go on meanwhile
        probing = [asyncio.ensure_future(runtime.check()) for runtime in runtimes]
        await asyncio.wait(probing, timeout=TARGETS_PREPARE_WAIT)
        targets = []
        for runtime in runtimes:
            name = runtime.config.name
            info = runtime.describe()
            self.ledger.target_status(name, info["status"], info["message"], info["gpu_ids"])
            info["running"] = counts.get(name, {}).get("running", 0)
            info["queued"] = counts.get(name, {}).get("queued", 0)
            targets.append(info)
        return {"targets": targets}


def _remove_folders(folders: list[Path]) -> tuple[int, list[str]]:
    """Delete run folders (also what a run made read-only); the bytes freed and, for a
    folder that could not go, why."""
    import shutil
    import stat

    def writable_then_retry(function, path, _exc) -> None:
        parent = os.path.dirname(path)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        function(path)

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


async def _read_request(reader: asyncio.StreamReader) -> requests.Request:
    line = await reader.readline()
    if not line:
        raise ConnectionError("connection closed")
    return requests.parse(protocol.decode_request(line))


async def _write_message(writer: asyncio.StreamWriter, message: dict) -> None:
    writer.write(protocol.encode(message))
    await writer.drain()


def _failed(reason: str):
    from core.executors.base import Exit
    return Exit(exit_code=None, reason=reason)


async def _reply_error(writer: asyncio.StreamWriter, exc: RunyardError) -> None:
    try:
        await _write_message(writer, {"ok": False, "error": exc.to_dict()})
    except (ConnectionError, RuntimeError):
        log.info("client went away before the error reply")


# ---------------------------------------------------------------- entry point

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.engine",
                                     description="Run runyard's engine in the foreground.")
    parser.add_argument("--home", help="the store (default: $RUNYARD_HOME)")
    parser.add_argument("--idle-exit", type=float,
                        default=float(os.environ.get("RUNYARD_ENGINE_IDLE_EXIT", "0") or 0),
                        help="exit after this many idle seconds, 0 = never "
                             "(env: RUNYARD_ENGINE_IDLE_EXIT)")
    args = parser.parse_args(argv)
    paths = StorePaths(Path(args.home).absolute()) if args.home else StorePaths.from_env()
    paths.ensure()
    logging.basicConfig(filename=paths.engine_log, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(Engine(paths, idle_exit=args.idle_exit).serve())
    except AlreadyRunning:
        print(f"an engine is already running for {paths.home}", file=sys.stderr)
        return 0
    return 0

