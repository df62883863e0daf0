"""Which queued runs the scheduler may place now: dependencies met, retry delay over.

Runs whose dependencies can never succeed are ended here (core.dependencies); a run
waiting out a retry delay (`not_before`) gets a timer that wakes the scheduler then.
"""

from __future__ import annotations

import asyncio
import json
import time

from core import dependencies
from core.executors.base import Exit
from core.models import epoch_from_iso, now_iso
from core.scheduler import Waiting


class QueueGate:
    def __init__(self, conn, runner, wake):
        self.conn = conn
        self.runner = runner
        self.wake = wake
        self._timer: asyncio.TimerHandle | None = None

    def ready(self, rows) -> list[Waiting]:
        """The queued `rows` (id, target, gpus, priority, depends_on, not_before,
        avoid_gpus) that may start now, as the scheduler's Waiting items."""
        now = now_iso()
        blocked = dependencies.check(self.conn, [r for r in rows if r["depends_on"] != "[]"])
        waiting, later = [], None
        for r in rows:
            why = blocked.get(r["id"])
            if why == dependencies.PENDING:
                continue
            if why is not None:
                self.runner.finish(r["id"], Exit(exit_code=None, reason=why), cause="dependency")
                continue
            if r["not_before"] and r["not_before"] > now:
                later = min(later or r["not_before"], r["not_before"])
                continue
            avoid = tuple(json.loads(r["avoid_gpus"])) if r["avoid_gpus"] != "[]" else ()
            waiting.append(Waiting(r["id"], r["target"], r["gpus"], r["priority"], avoid))
        if later is not None:
            self._wake_at(later)
        return waiting

    def _wake_at(self, when: str) -> None:
        """Wake the scheduler at `when` (ISO time), unless a timer does so sooner."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, epoch_from_iso(when) - time.time()) + 0.01
        timer = self._timer
        if timer is not None and not timer.cancelled() and loop.time() < timer.when() <= deadline:
            return
        if timer is not None:
            timer.cancel()
        self._timer = loop.call_at(deadline, self.wake)
