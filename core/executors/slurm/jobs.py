"""Following a target's Slurm jobs: one squeue for all of them, every POLL_INTERVAL seconds.

Each followed job (by key: `123`, or `120_3` for an array task) has a future that resolves
with Slurm's last word on it when it reaches an end state, or with None when Slurm no
longer knows it (ended long ago and forgotten). State changes are reported through
`on_change(run_id, info, state_changed)` (pending reasons, the node it runs on). When
squeue fails (the controller is down, the login node unreachable), jobs stay followed and
the poll is tried again with a growing pause; `on_problem` reports it, and None once it
works again (with whether the failure may pass by itself: the controller not answering).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable

from core.errors import ExecutorError
from core.executors.slurm.states import SQUEUE_FORMAT, JobInfo, is_transient, parse_squeue

log = logging.getLogger("runyard.engine")

POLL_INTERVAL = 1.0
HURRY_INTERVAL = 0.1     # for jobs whose run has written its exit status: the end is near
MAX_PAUSE = 15.0
CHUNK = 400              # job keys per squeue call
MISSING_POLLS = 2        # polls a job must be absent from before it counts as forgotten


@dataclass
class Followed:
    key: str
    run_id: int | None
    ended: asyncio.Future
    info: JobInfo | None = None
    seen_running: bool = False
    missing: int = 0


class Jobs:
    def __init__(self, command, on_change: Callable,
                 on_problem: Callable[[str | None, bool], None],
                 interval: float = POLL_INTERVAL):
        self.command = command              # async (argv, what=...) -> Completed
        self.on_change = on_change
        self.on_problem = on_problem
        self.interval = interval
        self.followed: dict[str, Followed] = {}
        self.polls = 0
        self._task: asyncio.Task | None = None
        self._nudge = asyncio.Event()
        self._hurry: set[str] = set()

    def follow(self, key: str, run_id: int | None = None) -> Followed:
        item = self.followed.get(key)
        if item is None or item.ended.done():
            item = self.followed[key] = Followed(key, run_id,
                                                 asyncio.get_running_loop().create_future())
        if run_id is not None:
            item.run_id = run_id
        self._nudge.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="slurm jobs")
        return item

    def known(self, key: str) -> JobInfo | None:
        item = self.followed.get(key)
        return item.info if item is not None else None

    async def until_ended(self, key: str, run_id: int | None = None,
                          timeout: float | None = None) -> Followed | None:
        """Wait until the job ends (None if `timeout` passes first)."""
        item = self.follow(key, run_id)
        try:
            await asyncio.wait_for(asyncio.shield(item.ended), timeout)
        except asyncio.TimeoutError:
            return None
        return item

    def poll_soon(self) -> None:
        self._nudge.set()

    def expect_end(self, key: str) -> None:
        """The job's run wrote its exit status: poll it often until Slurm says it ended."""
        if key in self.followed:
            self._hurry.add(key)
            self._nudge.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def query(self, keys: list[str]) -> dict[str, JobInfo]:
        """Slurm's view of these jobs; a job Slurm does not know is left out."""
        found: dict[str, JobInfo] = {}
        for start in range(0, len(keys), CHUNK):
            part = keys[start:start + CHUNK]
            result = await self.command(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(part),
                                         "-o", SQUEUE_FORMAT], what="asking squeue")
            if result.returncode != 0:
                error = result.error_text()
                if "Invalid job id" in error:
                    continue                     # none of them is known any more
                raise ExecutorError(f"squeue failed (exit {result.returncode}): "
                                    f"{error or 'no message'}", transient=is_transient(error))
            found.update(parse_squeue(result.text()))
        return found

    async def _loop(self) -> None:
        pause = self.interval
        while self.followed:
            keys = [k for k, item in self.followed.items() if not item.ended.done()]
            if not keys:
                self.followed.clear()
                return
            try:
                found = await self.query(keys)
            except ExecutorError as exc:
                log.info("slurm jobs: %s", exc.message)
                self.on_problem(exc.message, exc.transient)
                pause = min(MAX_PAUSE, pause * 2)
                await asyncio.sleep(pause)
                continue
            except Exception:  # a bug must not stop following every job of the target
                log.exception("slurm jobs: poll failed")
                await asyncio.sleep(MAX_PAUSE)
                continue
            self.polls += 1
            pause = self.interval
            self.on_problem(None, False)
            for key in keys:
                self._update(self.followed[key], found.get(key))
            self._nudge.clear()
            hurry = any(key in self._hurry for key in self.followed)
            await _wait(self._nudge, HURRY_INTERVAL if hurry else self.interval)

    def _update(self, item: Followed, info: JobInfo | None) -> None:
        if info is None:
            item.missing += 1
            if item.missing >= MISSING_POLLS:
                self._end(item)
            return
        item.missing = 0
        before, item.info = item.info, info
        if info.state in ("RUNNING", "COMPLETING"):
            item.seen_running = True
        if before is None or before.detail() != info.detail():
            self.on_change(item.run_id, info, before is None or before.state != info.state)
        if not info.active:
            self._end(item)

    def _end(self, item: Followed) -> None:
        if not item.ended.done():
            item.ended.set_result(item.info if item.missing == 0 else None)
        self.followed.pop(item.key, None)
        self._hurry.discard(item.key)


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """Wait for the event at most `timeout` seconds; whether it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except asyncio.TimeoutError:
        return False
