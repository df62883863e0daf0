"""Which queued runs the scheduler may place now: dependencies met, retry delay over.

Runs whose dependencies can never succeed are ended here (core.engine.dependencies); a run
waiting out a retry delay (`not_before`) gets a timer that wakes the scheduler then.
"""

from __future__ import annotations

import asyncio
import json
import time

from core.engine import dependencies
from core.store import queue_queries
from core.executors.base import Exit
from core.models import epoch_from_iso, now_iso
from core.engine.scheduler import Waiting


class QueueGate:
    def __init__(self, conn, runner, wake):
        self.conn = conn
        self.runner = runner
        self.wake = wake
        self._timer: asyncio.TimerHandle | None = None
        # id -> (depends_on, not_before, avoid_gpus, after_search) of queued runs: fixed
        # while a run is queued, so read once, not on every pass (they sit at the end of
        # wide rows); a search that ends changes those of the runs waiting for it (forget).
        self._known: dict[int, tuple] = {}

    def ready(self, rows) -> list[Waiting]:
        """The queued `rows` (id, target, gpus, priority) that may start now, as the
        scheduler's Waiting items."""
        self._learn([r["id"] for r in rows])
        now = now_iso()
        blocked = dependencies.check(self.conn, [{"id": r["id"], "depends_on": self._known[r["id"]][0]}
                                                 for r in rows if self._known[r["id"]][0] != "[]"])
        waiting, later = [], None
        for r in rows:
            _deps, not_before, avoid, after_search = self._known[r["id"]]
            why = blocked.get(r["id"])
            if why == dependencies.PENDING or after_search is not None:
                continue
            if why is not None:
                self.runner.finish(r["id"], Exit(exit_code=None, reason=why), cause="dependency")
                continue
            if not_before and not_before > now:
                later = min(later or not_before, not_before)
                continue
            waiting.append(Waiting(r["id"], r["target"], r["gpus"], r["priority"], avoid))
        if later is not None:
            self._wake_at(later)
        return waiting

    def _learn(self, ids: list[int]) -> None:
        present = set(ids)
        for gone in [i for i in self._known if i not in present]:
            del self._known[gone]
        new = [i for i in ids if i not in self._known]
        for run_id, deps, not_before, avoid, after_search in \
                queue_queries.queue_constraints(self.conn, new):
            self._known[run_id] = (deps, not_before,
                                   tuple(json.loads(avoid)) if avoid != "[]" else (),
                                   after_search)

    def forget(self, ids: list[int]) -> None:
        """These runs' constraints changed while queued (a search they waited for ended):
        read them again."""
        for run_id in ids:
            self._known.pop(run_id, None)
        self.wake()

    def _wake_at(self, when: str) -> None:
        """Wake the scheduler at `when` (ISO time), unless a timer does so sooner."""
        at = epoch_from_iso(when)
        if at is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, at - time.time()) + 0.01
        timer = self._timer
        if timer is not None and not timer.cancelled() and loop.time() < timer.when() <= deadline:
            return
        if timer is not None:
            timer.cancel()
        self._timer = loop.call_at(deadline, self.wake)
