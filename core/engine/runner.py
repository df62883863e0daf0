"""The part of the engine that owns running runs: start, supervise, ingest, finish, cancel.

What happens to each state when the engine (re)starts is written in RESTART_RULES and
carried out by `Runner.recover()`; nothing else decides it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from functools import partial

from core.engine import retries
from core.store import queries as run_queries
from core.store import queue_queries
from core.store import runfile
from core.errors import ExecutorError, RunyardError, StoreError
from core.executors.base import Exit
from core.store.ledger import Ledger
from core.engine.ingest import RunMetrics
from core.engine.resuming import Resumer
from core.models import STOP_CAUSES, Run, RunState, epoch_from_iso, iso_from_epoch, now_iso
from core.paths import StorePaths
from core.store.blobs import BlobStore
from core.engine.targets import Registry, TargetRuntime

log = logging.getLogger("runyard.engine")

RESTART_RULES = {
    RunState.QUEUED: "stays queued; the scheduler starts it when capacity allows",
    RunState.RUNNING: (
        "reattached through its executor: a recorded exit status ends it with its true exit "
        "code, a live process is supervised again, a process gone without a status makes it "
        "lost; a run the engine marked running but never started is queued again; a run a "
        "stop rule or a pruner had stopped is stopped and ends stopped"),
    RunState.SUCCEEDED: "unchanged",
    RunState.FAILED: "unchanged",
    RunState.CANCELLED: "unchanged",
    RunState.STOPPED: "unchanged",
    RunState.LOST: "unchanged",
}

RESUME_WAIT = (5.0, 60.0)   # seconds between tries to fetch a checkpoint from a target away
# Retrying a write the store refused (busy, full): first after this many seconds, doubling.
RECORD_STARTING_AFTER = 1.0  # seconds a start may take before its record is written anyway
RECORD_RETRY_FIRST = 0.5
RECORD_RETRY_MAX = 30.0


class Runner:
    def __init__(self, ledger: Ledger, registry: Registry, paths: StorePaths, blobs: BlobStore,
                 on_change):
        self.ledger = ledger
        self.registry = registry
        self.paths = paths
        self.blobs = blobs
        self.on_change = on_change          # called after a run starts or ends
        self.on_ended: Callable[[Run], None] | None = None   # each run that ended for good
        self.resumer: Resumer | None = None  # hands checkpoints over (set by the engine)
        self.tasks: dict[int, asyncio.Task] = {}
        self.metrics = RunMetrics(ledger, paths, self.stop)
        self.finished: dict[int, asyncio.Future] = {}
        # Runs whose end (or start) is known but not yet recorded: why (the store refuses).
        self.unrecorded: dict[int, str] = {}
        self._last_env: tuple[str, dict[str, str]] | None = None     # see _base_env

    # ------------------------------------------------------------ starting

    def launch(self, run: Run, runtime: TargetRuntime, gpu_ids: tuple[int, ...]) -> None:
        """Record the run as running (before acting), then start it in the background."""
        run = self.ledger.transition(run.id, RunState.RUNNING, gpu_ids=list(gpu_ids),
                                     message=f"started on {runtime.config.name}")
        try:
            self.paths.run_dir(run.id).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:                 # the executor says so when it prepares it
            log.warning("run %s: cannot make its folder: %s", run.id, exc)
        self._spawn_task(run.id, self._start(run, runtime))

    async def _start(self, run: Run, runtime: TargetRuntime) -> None:
        # The run's record (keep_record) is written once its handle is known, one write
        # fewer per run; a start still going after RECORD_STARTING_AFTER seconds (code sent
        # to a remote box) gets its record meanwhile.
        early = asyncio.get_running_loop().call_later(RECORD_STARTING_AFTER, self.keep_record,
                                                      run.id)
        try:
            env = self.run_env(run, runtime)
            if resume := await self._resume_path(run, runtime):
                env["RUNYARD_RESUME_FROM"] = resume
            handle = await runtime.executor.start(run, env)
        except (ExecutorError, StoreError) as exc:
            if isinstance(exc, ExecutorError) and exc.transient and \
                    not run_queries.get_run(self.ledger.conn, run.id).cancel_requested:
                # The target is unreachable for now: the run waits for it in the queue.
                note = f"queued again: {exc.message}"
                await self.until_recorded(run.id, lambda: self.ledger.transition(
                    run.id, RunState.QUEUED, message=note))
                self.on_change()
                return
            self.note_in_log(run.id, exc.message)
            await self.record_end(run.id, Exit(exit_code=None, reason=exc.message))
            return
        finally:
            early.cancel()
        await self.until_recorded(run.id, lambda: self.ledger.set_handle(run.id, handle))
        self.keep_record(run.id)
        await self._supervise(run.id, runtime, handle)

    async def _resume_path(self, run: Run, runtime: TargetRuntime) -> str | None:
        """The checkpoint the run starts from, made readable where it runs. While the target
        holding it is out of reach the run waits (holding its slot), saying so in its detail."""
        if self.resumer is None or not (run.resume_point or run.resume_from):
            return None
        pause = RESUME_WAIT[0]
        while True:
            try:
                return await self.resumer.prepare(run, runtime)
            except ExecutorError as exc:
                if not exc.transient:
                    raise
                if run_queries.get_run(self.ledger.conn, run.id).cancel_requested:
                    raise ExecutorError("cancelled while waiting for its checkpoint") from None
                self.note_detail(run.id, f"waiting for its checkpoint: {exc.message}", None)
                await asyncio.sleep(pause)
                pause = min(RESUME_WAIT[1], pause * 2)

    async def until_recorded(self, run_id: int, write):
        """`write()` until the store takes it: a busy or full store is waited out (with
        backoff), never the reason a run's start or end is lost. Meanwhile the run is in
        `unrecorded`, and its target shows why (`tui targets`)."""
        delay = RECORD_RETRY_FIRST
        try:
            while True:
                try:
                    return write()
                except StoreError as exc:
                    self.unrecorded[run_id] = exc.message
                    log.debug("run %s: not recorded yet: %s", run_id, exc.message)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX)
        finally:
            self.unrecorded.pop(run_id, None)

    async def record_end(self, run_id: int, outcome: Exit, cause: str | None = None):
        """`finish()`, retried until recorded; the end time is when it ended, not when the
        store took it."""
        if outcome.ended_at is None:
            outcome = dataclasses.replace(outcome, ended_at=time.time())
        return await self.until_recorded(run_id, lambda: self.finish(run_id, outcome, cause))

    def run_env(self, run: Run, runtime: TargetRuntime) -> dict[str, str]:
        """The run's environment: the launching shell's (kinds that take it: local), config
        and --env values, then runyard's own variables and the GPU ids."""
        env: dict[str, str] = {}
        if runtime.executor.takes_shell_env:
            env.update(self._base_env(run.id))
        env.update(run.spec.env)
        run_dir = self.paths.run_dir(run.id)
        env.update(RUNYARD_RUN_ID=str(run.id), RUNYARD_RUN_NAME=run.name,
                   RUNYARD_RUN_DIR=str(run_dir), RUNYARD_METRICS=str(run_dir / "metrics.jsonl"),
                   RUNYARD_TARGET=runtime.config.name, RUNYARD_HOME=str(self.paths.home))
        env.setdefault("PYTHONUNBUFFERED", "1")
        here = runtime.executor.run_folders_here      # these are paths on this machine
        if run.spec.policy.after and here:
            env["RUNYARD_AFTER_DIRS"] = self._dependency_dirs(run)
        if runtime.gpu_ids:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in run.gpu_ids)
        return env

    def _dependency_dirs(self, run: Run) -> str:
        """The working folders of the runs this one waited for (their last attempts)."""
        after = [int(dep) for dep in run.spec.policy.after]     # stored: run ids only
        latest = queue_queries.latest_attempts(self.ledger.conn, set(after))
        dirs = []
        for dep in after:
            last = run_queries.get_run(self.ledger.conn, latest[dep][0] if dep in latest else dep)
            code = self.paths.run_dir(last.id) / "code"
            dirs.append(str(code / last.workdir if last.workdir else code))
        return os.pathsep.join(dirs)

    def _base_env(self, run_id: int) -> dict[str, str]:
        blob = run_queries.base_env_blob(self.ledger.conn, run_id)
        if not blob:
            return dict(os.environ)
        # Blobs never change and the runs of a launch share theirs: the last one read is
        # kept (a sweep's runs read it once, not once each).
        if self._last_env is None or self._last_env[0] != blob:
            self._last_env = (blob, json.loads(self.blobs.read(blob)))
        return dict(self._last_env[1])

    # ------------------------------------------------------------ supervising

    def _spawn_task(self, run_id: int, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"run-{run_id}")
        self.tasks[run_id] = task
        task.add_done_callback(partial(self._task_done, run_id))

    def _task_done(self, run_id: int, task: asyncio.Task) -> None:
        if self.tasks.get(run_id) is task:
            del self.tasks[run_id]
        if task.cancelled():
            return                                   # engine shutting down; runs go on
        exc = task.exception()
        if exc is not None:
            log.error("supervising run %s failed", run_id, exc_info=exc)
            message = exc.message if isinstance(exc, RunyardError) else f"engine error: {exc!r}"
            self.note_in_log(run_id, message)
            self._spawn_task(run_id, self.record_end(run_id, Exit(exit_code=None, reason=message,
                                                                  lost=True)))

    async def _supervise(self, run_id: int, runtime: TargetRuntime, handle: dict) -> None:
        run = run_queries.get_run(self.ledger.conn, run_id)
        if run.cancel_requested:
            asyncio.get_running_loop().create_task(self.cancel_running(run, runtime))
        outcome = await runtime.executor.wait(run, handle)
        if outcome.ended_at is None:
            outcome = dataclasses.replace(outcome, ended_at=time.time())
        if not await self.metrics.ingest_safely(run_id, final=True):
            self.metrics.room.catch_up.add(run_id)    # its end first; the metrics catch up
        await self.record_end(run_id, outcome)

    def finish(self, run_id: int, outcome: Exit, cause: str | None = None) -> Run | None:
        """Record how a run ended; queue its next attempt when retries say so."""
        run = run_queries.get_run(self.ledger.conn, run_id)
        if run.state.terminal:
            return run
        if run.cause in STOP_CAUSES:
            state, reason, cause = RunState.STOPPED, run.reason, run.cause
        elif run.cancel_requested or outcome.cancelled:
            state = RunState.CANCELLED
            reason = "cancelled" + (f" ({outcome.reason})" if outcome.reason else "")
        elif outcome.lost:
            state, reason = RunState.LOST, outcome.reason
        elif outcome.exit_code == 0:
            state, reason = RunState.SUCCEEDED, None
        else:
            state, reason = RunState.FAILED, outcome.reason or "failed"
        at = None
        started = epoch_from_iso(run.started_at)
        if outcome.ended_at is not None and started is not None:
            at = iso_from_epoch(max(outcome.ended_at, started))
        retry, why_not = retries.decide(run, state, cause, self.paths.output_log(run_id))
        if retry is not None:
            run, _next = self.ledger.retry(
                run_id, state, reason=reason, exit_code=outcome.exit_code, at=at or now_iso(),
                not_before=iso_from_epoch(time.time() + retry.delay),
                avoid_gpus=list(retry.avoid_gpus), resume_point=Resumer.retry_point(run),
                note=retry.note)
        else:
            run = self.ledger.transition(run_id, state, reason=reason,
                                         exit_code=outcome.exit_code, at=at, cause=cause)
            if why_not:
                self.ledger.event(run_id, "retry", why_not)
        if outcome.leftovers:
            self._note_leftovers(run_id, outcome.leftovers)
        self.keep_record(run_id)
        self.tell_ended(run, for_good=retry is None)
        self.on_change()
        return run

    def tell_ended(self, run: Run, for_good: bool) -> None:
        """What follows a recorded end: waiters told, and (no retry coming) the hooks."""
        self.metrics.forget(run.id)
        future = self.finished.pop(run.id, None)
        if future is not None and not future.done():
            future.set_result(run)
        if for_good and self.on_ended is not None:
            self.on_ended(run)

    def _note_leftovers(self, run_id: int, which: str) -> None:
        """Processes the run left running were ended after it: said in its log and history."""
        note = f"ended processes the run left running: {which}"
        self.note_in_log(run_id, note)
        try:
            self.ledger.event(run_id, "leftovers", note)
        except StoreError as exc:
            log.warning("run %s: %s (not in its history: %s)", run_id, note, exc.message)

    def keep_record(self, run_id: int) -> None:
        """Copy the run's row into its folder (core.store.runfile), for `tui engine repair`;
        a run that never started has no folder, and gets none for this."""
        row = run_queries.run_record(self.ledger.conn, run_id)
        if row is None or row["started_at"] is None:
            return
        try:
            runfile.write(self.paths.run_dir(run_id), row)
        except (OSError, ValueError) as exc:
            log.warning("run %s: cannot keep its record in its folder: %s", run_id, exc)

    def note_detail(self, run_id: int, detail: str | None, message: str | None) -> None:
        """An executor's word on a running run (Context.on_detail): stored, and an event."""
        try:
            self.ledger.set_detail(run_id, detail, message)
        except StoreError as exc:
            log.warning("run %s: cannot record %r: %s", run_id, detail, exc.message)

    def note_in_log(self, run_id: int, message: str) -> None:
        """Append runyard's own explanation to the run's log, so `tui logs` shows it."""
        path = self.paths.output_log(run_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as handle:
                handle.write(f"runyard: {message}\n".encode("utf-8", "surrogateescape"))
        except OSError as exc:
            log.warning("cannot write to %s: %s", path, exc)

    async def until_finished(self, run_id: int) -> Run:
        run = run_queries.get_run(self.ledger.conn, run_id)
        if run.state.terminal:
            return run
        future = self.finished.get(run_id)
        if future is None:
            future = self.finished[run_id] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(future)

    # ------------------------------------------------------------ cancelling

    async def cancel(self, run: Run) -> None:
        if run.state is RunState.QUEUED:
            self.ledger.request_cancel(run.id)
            self.finish(run.id, Exit(exit_code=None, reason="cancelled while queued"))
            return
        if run.state is not RunState.RUNNING:
            return
        self.ledger.request_cancel(run.id)
        runtime = self.registry.get(run.spec.target)
        if run.handle and runtime is not None:
            await self.cancel_running(run, runtime)
        # No handle yet: the start in progress sees cancel_requested and cancels at once.

    def replace_queued(self, run: Run, by: int) -> None:
        """A newer change of its watch makes this queued run outdated: cancel it."""
        self.ledger.request_cancel(run.id)
        self.finish(run.id, Exit(exit_code=None, reason=f"replaced by run {by}, for a newer "
                                                        "change"), cause="replaced")

    def stop(self, run_id: int, why: str, cause: str = "stop_rule") -> None:
        """A stop rule fired (or, `cause` "pruned", a search's pruner): record it, then end
        the run like a cancel (in the background)."""
        run = run_queries.get_run(self.ledger.conn, run_id)
        if run.state is not RunState.RUNNING or run.cancel_requested:
            return
        self.ledger.request_stop(run_id, f"stop rule: {why}" if cause == "stop_rule" else why,
                                 cause)
        runtime = self.registry.get(run.spec.target)
        if run.handle and runtime is not None:
            task = asyncio.get_running_loop().create_task(self.cancel_running(run, runtime),
                                                          name=f"stop-{run_id}")
            task.add_done_callback(_log_failure)
        # No handle yet: the start in progress sees the request and cancels at once.

    async def cancel_running(self, run: Run, runtime: TargetRuntime) -> None:
        grace = float(run_queries.options(self.ledger.conn, run.id).get("cancel_grace", 10.0))
        handle = run.handle or run_queries.get_run(self.ledger.conn, run.id).handle
        try:
            await runtime.executor.cancel(run, handle, grace)
        except ExecutorError as exc:
            self.ledger.event(run.id, "cancel", f"cancel failed: {exc.message}")

    # ------------------------------------------------------------ metrics

    async def ingest_loop(self) -> None:
        """Read the metrics of every supervised run (core.engine.ingest.RunMetrics)."""
        await self.metrics.loop(lambda: list(self.tasks))

    # ------------------------------------------------------------ engine restart

    async def recover(self) -> None:
        """Apply RESTART_RULES to every run the previous engine left running."""
        for run in run_queries.list_runs(self.ledger.conn, states=[RunState.RUNNING]):
            runtime = self.registry.get(run.spec.target)
            if runtime is None:
                self.finish(run.id, Exit(None, lost=True,
                                         reason=f"target {run.spec.target!r} is no longer known"))
                continue
            handle = run.handle
            if not handle:
                handle = await runtime.executor.recover(run)
                if handle is None:
                    self.ledger.transition(run.id, RunState.QUEUED,
                                           message="queued again: the engine stopped before "
                                                   "the run started")
                    continue
                self.ledger.set_handle(run.id, handle)
            self.ledger.event(run.id, "reattach", "reattached after an engine restart")
            self._spawn_task(run.id, self._supervise(run.id, runtime, handle))


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())
