"""Which queued runs the scheduler may place now: dependencies met, retry delay over.

The gate keeps the queue in memory, indexed, so that a scheduling pass costs what changed
and not the length of the queue (10,000 queued runs, or a chain of sweeps waiting on each
other, take the same time per pass as ten):

- it learns new queued runs by id (a new run always gets a higher id), and checks the
  queue it knows against the store's (count and sum of the queued ids, read from the state
  index) each pass; a difference (a cancel, a run queued again) makes it read the queue
  anew;
- a run waiting for runs or groups is filed under each of them; a pass asks the store only
  about those, then releases or ends the runs filed there (core.engine.dependencies);
- runs free to start sit in one lane per target, in queue order (priority, then id), and
  the scheduler reads a lane only as far as it places runs.

A run waiting out a retry delay (`not_before`) gets a timer that wakes the scheduler then;
a run waiting for a search (`after_search`) stays out until the search ends and `forget`
has it read again.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Iterator

from core.engine import dependencies
from core.store import queue_queries
from core.executors.base import Exit
from core.models import epoch_from_iso, now_iso
from core.engine.scheduler import Waiting


@dataclass
class _Entry:
    waiting: Waiting
    not_before: str | None
    runs: set[int] = field(default_factory=set)       # run ids it still waits for
    groups: set[int] = field(default_factory=set)     # group ids it still waits for
    search: int | None = None                         # a search it waits for (see forget)


class Lane:
    """One target's runs that may start, in queue order; dropped runs are skipped."""

    def __init__(self) -> None:
        self.items: dict[int, Waiting] = {}
        self.asking_gpus: dict[int, dict[int, Waiting]] = {}    # GPU count -> its runs
        self._order: list[tuple[int, int]] = []       # (-priority, id)
        self._sorted = True

    def add(self, item: Waiting) -> None:
        self.items[item.run_id] = item
        if item.gpus:
            self.asking_gpus.setdefault(item.gpus, {})[item.run_id] = item
        self._order.append((-item.priority, item.run_id))
        self._sorted = False

    def discard(self, run_id: int) -> None:
        item = self.items.pop(run_id, None)
        if item is not None and item.gpus:
            same = self.asking_gpus.get(item.gpus, {})
            same.pop(run_id, None)
            if not same:
                self.asking_gpus.pop(item.gpus, None)

    def ordered(self) -> Iterator[Waiting]:
        """The runs in queue order; read only as far as the caller needs."""
        order = self._order
        if not self._sorted or len(order) > 2 * len(self.items) + 64:
            order = self._order = sorted((-w.priority, w.run_id) for w in self.items.values())
            self._sorted = True
        dead = 0
        while dead < len(order) and order[dead][1] not in self.items:
            dead += 1
        if dead:
            del order[:dead]
        for _key, run_id in order:
            item = self.items.get(run_id)
            if item is not None:
                yield item


class QueueGate:
    def __init__(self, conn, runner, wake):
        self.conn = conn
        self.runner = runner
        self.wake = wake
        self._timer: asyncio.TimerHandle | None = None
        self._entries: dict[int, _Entry] = {}
        self._above = 0                     # the highest queued id learned
        self._id_sum = 0
        self._on_run: dict[int, set[int]] = {}      # dependency -> runs waiting for it
        self._on_group: dict[int, set[int]] = {}    # group -> runs waiting for all of it
        self._later: set[int] = set()               # free but for their retry delay
        self.lanes: dict[str, Lane] = {}

    # ------------------------------------------------------------ a pass

    def ready(self) -> dict[str, Lane]:
        """The lanes of targets with runs that may start now. Runs whose dependencies
        can never succeed are ended here."""
        self._sync()
        self._resolve_runs()
        self._resolve_groups()
        self._release_later()
        return {name: lane for name, lane in self.lanes.items() if lane.items}

    def forget(self, ids: list[int]) -> None:
        """These runs' constraints changed while queued (a search they waited for ended):
        the next pass reads them again."""
        for run_id in ids:
            self.leave(run_id)
        self.wake()

    def leave(self, run_id: int) -> None:
        """The run is no longer queued (started, or ended by the scheduler)."""
        entry = self._entries.pop(run_id, None)
        if entry is None:
            return
        self._id_sum -= run_id
        for dep in entry.runs:
            self._unfile(self._on_run, dep, run_id)
        for group in entry.groups:
            self._unfile(self._on_group, group, run_id)
        self._later.discard(run_id)
        lane = self.lanes.get(entry.waiting.target)
        if lane is not None:
            lane.discard(run_id)

    # ------------------------------------------------------------ learning the queue

    def _sync(self) -> None:
        for row in queue_queries.queue_entries(self.conn, above=self._above):
            self._learn(row)
        if queue_queries.queue_fingerprint(self.conn) == (len(self._entries), self._id_sum):
            return
        queued = queue_queries.queued_ids(self.conn)       # something left or came back
        for gone in [i for i in self._entries if i not in queued]:
            self.leave(gone)
        for row in queue_queries.queue_entries(self.conn, ids=sorted(queued - set(self._entries))):
            self._learn(row)

    def _learn(self, row) -> None:
        run_id, target, gpus, priority, depends, groups, not_before, avoid, search = row
        if run_id in self._entries:
            return
        self._above = max(self._above, run_id)
        self._id_sum += run_id
        entry = _Entry(Waiting(run_id, target, gpus, priority,
                               tuple(json.loads(avoid)) if avoid != "[]" else ()), not_before,
                       set(json.loads(depends)) if depends != "[]" else set(),
                       set(json.loads(groups)) if groups != "[]" else set(), search)
        self._entries[run_id] = entry
        for dep in entry.runs:
            self._on_run.setdefault(dep, set()).add(run_id)
        for group in entry.groups:
            self._on_group.setdefault(group, set()).add(run_id)
        self._maybe_free(entry)

    # ------------------------------------------------------------ dependencies

    def _resolve_runs(self) -> None:
        if not self._on_run:
            return
        latest = queue_queries.latest_attempts(self.conn, set(self._on_run))
        for dep in list(self._on_run):
            why = dependencies.run_verdict(dep, latest.get(dep))
            if why == dependencies.PENDING:
                continue
            # Each waiter leaves the index once settled: if ending one fails (the store is
            # busy), the rest are still filed and the next pass settles them.
            for run_id in sorted(self._on_run.get(dep, ())):
                self._settle(run_id, why, dep=dep)
                self._unfile(self._on_run, dep, run_id)

    def _resolve_groups(self) -> None:
        for group in list(self._on_group):
            why = dependencies.group_verdict(self.conn, group)
            if why == dependencies.PENDING:
                continue
            for run_id in sorted(self._on_group.get(group, ())):
                self._settle(run_id, why, group=group)
                self._unfile(self._on_group, group, run_id)

    def _settle(self, run_id: int, why: str | None, dep: int | None = None,
                group: int | None = None) -> None:
        """One thing `run_id` waited for is over: `why` it failed, or None (succeeded)."""
        entry = self._entries.get(run_id)
        if entry is None:
            return
        if why is not None:
            self.leave(run_id)
            self.runner.finish(run_id, Exit(exit_code=None, reason=why), cause="dependency")
            return
        if dep is not None:
            entry.runs.discard(dep)
        if group is not None:
            entry.groups.discard(group)
        self._maybe_free(entry)

    def _maybe_free(self, entry: _Entry) -> None:
        if entry.runs or entry.groups or entry.search is not None:
            return
        if entry.not_before:
            self._later.add(entry.waiting.run_id)
            return
        self.lanes.setdefault(entry.waiting.target, Lane()).add(entry.waiting)

    def _release_later(self) -> None:
        if not self._later:
            return
        now, later = now_iso(), None
        for run_id in sorted(self._later):
            entry = self._entries[run_id]
            not_before = entry.not_before or ""
            if not_before > now:
                later = min(later or not_before, not_before)
                continue
            self._later.discard(run_id)
            self.lanes.setdefault(entry.waiting.target, Lane()).add(entry.waiting)
        if later is not None:
            self._wake_at(later)

    @staticmethod
    def _unfile(index: dict[int, set[int]], key: int, run_id: int) -> None:
        waiters = index.get(key)
        if waiters is not None:
            waiters.discard(run_id)
            if not waiters:
                del index[key]

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
