"""Runs that start together are submitted together: one sbatch, a job array when there are many.

The engine's scheduler starts every run it places in one pass at the same moment (a sweep
launched at once is placed in one pass), and each start first prepares its run's folder.
A `Batcher` collects the starts of one target: when no start is still preparing and none
arrived for WINDOW seconds (or MAX_WAIT after the first), it hands each group of starts
(same batch key: same sweep, same resources) to `submit`, which returns one handle or one
error per start, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Hashable

WINDOW = 0.05
MAX_WAIT = 5.0


@dataclass
class Pending:
    key: Hashable
    item: object
    result: asyncio.Future


class Batcher:
    def __init__(self, submit: Callable[[list], Awaitable[list]], window: float = WINDOW,
                 max_wait: float = MAX_WAIT):
        self.submit = submit
        self.window = window
        self.max_wait = max_wait
        self.batches = 0                  # how many submissions were made (for tests, benchmarks)
        self._pending: list[Pending] = []
        self._preparing = 0
        self._arrived = asyncio.Event()
        self._flush: asyncio.Task | None = None

    @contextlib.contextmanager
    def preparing(self):
        """Wrap a start's preparation, so the batch waits for it."""
        self._preparing += 1
        try:
            yield
        finally:
            self._preparing -= 1

    async def add(self, key: Hashable, item) -> Any:
        """Queue one start; returns its handle (or raises its error) once submitted."""
        pending = Pending(key, item, asyncio.get_running_loop().create_future())
        self._pending.append(pending)
        self._arrived.set()
        if self._flush is None or self._flush.done():
            self._flush = asyncio.get_running_loop().create_task(self._flush_soon(),
                                                                 name="slurm batch")
        return await pending.result

    async def _flush_soon(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while loop.time() < deadline:
            self._arrived.clear()
            await asyncio.sleep(self.window)
            if self._preparing == 0 and not self._arrived.is_set():
                break
        taken, self._pending = self._pending, []
        self._flush = None
        groups: dict[Hashable, list[Pending]] = {}
        for pending in taken:
            groups.setdefault(pending.key, []).append(pending)
        await asyncio.gather(*(self._submit(group) for group in groups.values()))

    async def _submit(self, group: list[Pending]) -> None:
        self.batches += 1
        try:
            results = await self.submit([p.item for p in group])
        except Exception as exc:  # every start of the group learns why (a bug included)
            results = [exc] * len(group)
        for pending, result in zip(group, results):
            if pending.result.done():
                continue
            if isinstance(result, BaseException):
                pending.result.set_exception(result)
            else:
                pending.result.set_result(result)

    async def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
