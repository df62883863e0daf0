"""Which queued runs the scheduler may place now: dependencies met, retry delay over.

The gate keeps the queue in memory, indexed, so that a scheduling pass costs what changed
and not the length of the queue (10,000 queued runs, or a chain of sweeps waiting on each
other, take the same time per pass as ten):

- it learns new queued runs by id (a new run always gets a higher id), and every other
  change exactly from the ledger (the one writer), which lists each run that left the
  queue, came back to it, or had its constraints changed (`Ledger.queue_moves`): a pass
  reads those runs again, and nothing else;
- a run waiting for runs or groups is filed under each of them; a pass asks the store only
  about those, then releases or ends the runs filed there (core.engine.dependencies);
- runs free to start sit in one lane per target (core.engine.lanes), in queue order
  (priority, then id), and the scheduler reads a lane only as far as it places runs.

A run waiting out a retry delay (`not_before`) gets a timer that wakes the scheduler then;
a run waiting for a search (`after_search`) stays out until the search ends and `forget`
has it read again.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from core.engine import dependencies
from core.engine.lanes import Lane
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


class QueueGate:
    def __init__(self, ledger, runner, wake):
        self.ledger = ledger
        self.conn = ledger.conn
        self.runner = runner
        self.wake = wake
        self._timer: asyncio.TimerHandle | None = None
        self._entries: dict[int, _Entry] = {}
        self._above = 0                     # the highest queued id learned
        self._recheck: set[int] = set()     # runs to read again (leave, forget)
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
        self._recheck.update(ids)
        self.wake()

    def leave(self, run_id: int) -> None:
        """The run is leaving the queue (it starts, or the scheduler ends it). The next pass
        reads it again: if recording that failed (a busy store), it is still queued."""
        self._drop(run_id)
        self._recheck.add(run_id)

    def _drop(self, run_id: int) -> None:
        entry = self._entries.pop(run_id, None)
        if entry is None:
            return
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
        moved = self.ledger.queue_moves
        if not moved and not self._recheck:
            return
        ids = sorted(moved | self._recheck)
        rows = queue_queries.queue_entries(self.conn, ids=ids)      # those queued now
        for run_id in ids:
            self._drop(run_id)             # what was learned of it may be out of date
        for row in rows:
            self._learn(row)
        moved.difference_update(ids)
        self._recheck.difference_update(ids)

    def _learn(self, row) -> None:
        run_id, target, gpus, priority, depends, groups, not_before, avoid, search = row
        if run_id in self._entries:
            return
        self._above = max(self._above, run_id)
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
