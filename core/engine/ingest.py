"""Metric ingest: following a run's output.log and metrics.jsonl, and storing their points.

The files are read by byte offset, at most READ_CHUNK per call, and cut after the last
newline or carriage return, so each redraw of a progress bar is read as soon as it is
drawn (core.metrics.parser turns the text into points). Where ingest stopped is stored
with the points it gave (one transaction), so a restarted engine neither skips nor
repeats a line. A line with no end is waited for, unless it grows past MAX_LINE: then it
is skipped to its end. When the run has ended (`final`), the unfinished last line counts.

RunMetrics is the engine's side: every INTERVAL it reads each supervised run (a few
chunks at most, so one busy run cannot starve the others; the runs a follower judges as
they go, a search's pruned trials, every URGENT_INTERVAL), stores the points in batches
(the event loop runs between them), checks the run's stop rules, and reads an ended run
to its end. Nothing in a run's files can stop the engine: a failure is logged and said
once on the run, whose reading then stops; the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Protocol

from core.engine.metric_room import MetricRoom
from core.errors import StoreError
from core.metrics.parser import OutputParser
from core.metrics.rules import MetricRules
from core.spec import stoprules
from core.store import queries as run_queries
from core.store import metric_queries
from core.store.ledger import Ledger

log = logging.getLogger("runyard.engine")

MAX_LINE = 1024 * 1024          # longer lines are skipped for metrics (the log keeps them)
READ_CHUNK = 8 * 1024 * 1024    # at most this much of a file per call
INTERVAL = 0.5                  # seconds between reads of the running runs
URGENT_INTERVAL = 0.1           # ... of those a follower judges as they go (a pruner's trials)
MAX_CHUNKS_PER_ROUND = 4        # per run and round, so one busy run cannot starve others
STORE_BATCH = 50_000            # points per transaction (the event loop runs between them)


@dataclass
class IngestState:
    """Where ingest stopped; stored with the metrics so a restart neither skips nor repeats."""

    log_offset: int = 0
    log_skipping: bool = False         # inside an over-long line: skip to its end
    file_offset: int = 0
    output: dict = field(default_factory=dict)     # the output parser's state
    metrics_file: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"log_offset": self.log_offset, "log_skipping": self.log_skipping,
                "file_offset": self.file_offset, "output": self.output,
                "metrics_file": self.metrics_file}

    @classmethod
    def from_dict(cls, data: dict) -> "IngestState":
        state = cls(log_offset=data.get("log_offset", 0),
                    log_skipping=data.get("log_skipping", False),
                    file_offset=data.get("file_offset", 0),
                    output=data.get("output") or {}, metrics_file=data.get("metrics_file") or {})
        if "output" not in data and ("step" in data or "counters" in data):
            # Written by an engine before per-library readers: one step for both files.
            old = {"step": data.get("step"), "counters": data.get("counters") or {}}
            state.output, state.metrics_file = dict(old), dict(old)
        return state


@dataclass
class Batch:
    rows: list                  # (name, step, value); value None stands for NaN
    warnings: list[str]         # what was skipped, said once per kind and run
    more: bool                  # a file had more to read than one call takes
    state: dict                 # IngestState.to_dict() just after these rows


class Ingestor:
    """Reads what is new in a run's output.log and metrics.jsonl and returns metric points."""

    def __init__(self, log_path, metrics_path, rules: MetricRules = MetricRules(),
                 state: IngestState | None = None):
        self.log_path = log_path
        self.metrics_path = metrics_path
        self.state = state or IngestState()
        self.output = OutputParser(rules, self.state.output)
        self.metrics_file = OutputParser(rules, self.state.metrics_file, json_only=True)
        self.latest: dict = {}          # the run's latest value per metric, as stored

    def poll(self, final: bool = False) -> Batch:
        """New points; with `final` (the run has ended) an unfinished last line counts too."""
        state = self.state
        text, state.log_offset, state.log_skipping, more_log = _read_complete(
            self.log_path, state.log_offset, state.log_skipping, final)
        rows = self.output.feed(text) if text else []
        text, state.file_offset, _, more_file = _read_complete(
            self.metrics_path, state.file_offset, False, final)
        if text:
            rows.extend(self.metrics_file.feed(text))
        more = more_log or more_file
        if final and not more:
            rows.extend(self.output.finish())
            rows.extend(self.metrics_file.finish())
        state.output = self.output.snapshot()
        state.metrics_file = self.metrics_file.snapshot()
        return Batch(rows, self.output.take_warnings() + self.metrics_file.take_warnings(),
                     more, state.to_dict())


def _read_complete(path, offset: int, skipping: bool, final: bool) -> tuple[str, int, bool, bool]:
    """The complete lines and redraws after `offset` (decoded), the offset after them, the
    skip flag, and whether the file holds more than this call read."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= offset:
                return "", min(offset, size), skipping, False
            handle.seek(offset)
            data = handle.read(READ_CHUNK)
    except FileNotFoundError:
        return "", offset, skipping, False
    more = offset + len(data) < size
    end = max(data.rfind(b"\n"), data.rfind(b"\r"))
    if final and not more:
        end = len(data) - 1 if not skipping else end     # the last line, unfinished
    if end < 0:
        if len(data) > MAX_LINE or skipping:
            return "", offset + len(data), True, more    # an over-long line: drop what we have
        return "", offset, False, more
    body = data[:end + 1]
    if skipping:
        cut = min((i for i in (body.find(b"\n"), body.find(b"\r")) if i >= 0), default=end)
        body = body[cut + 1:]                             # the tail of the over-long line
    if final and not more and not body.endswith((b"\n", b"\r")):
        body += b"\n"
    return body.decode("utf-8", "replace"), offset + end + 1, False, more


def latest_values(current: dict, rows) -> dict:
    """The run's latest value per metric (JSON-safe), after adding `rows`."""
    last = {key: value for key, _step, value in rows}
    return {**current, **{key: metric_queries.json_number(math.nan if value is None else value)
                          for key, value in last.items()}}


class Follower(Protocol):
    """Whoever judges runs' points as they come (a search's pruner: core.engine.search)."""

    def observe(self, run_id: int, rows: list, judge: bool) -> None:
        """New points of a run; `judge` false on the read after it ended (keep, not judge)."""

    def hurried(self) -> bool:
        """Whether some run is `urgent` now (reads then come every URGENT_INTERVAL)."""

    def urgent(self, run_id: int) -> bool:
        """Whether this run is read every URGENT_INTERVAL (a stop decided sooner saves
        what the run would compute until the next read)."""


class _Paused(Exception):
    """The store's disk ran short of room between two chunks of a run's metrics."""


class RunMetrics:
    """The engine's metric ingest for the runs it supervises."""

    def __init__(self, ledger: Ledger, paths, stop):
        self.ledger = ledger
        self.paths = paths
        self.stop = stop                      # stop(run_id, why): a stop rule fired
        self.ingestors: dict[int, Ingestor] = {}
        self.checkers: dict[int, stoprules.Checker] = {}
        self.locks: dict[int, asyncio.Lock] = {}
        self.failed: set[int] = set()         # runs whose reading broke (logged, said once)
        self.follower: Follower | None = None
        # Metrics never take the store's last free space (core.engine.metric_room).
        self.room = MetricRoom(paths.home, run_queries.runs_with_pending_metrics(ledger.conn))

    def forget(self, run_id: int) -> None:
        """The run has ended (its last points read, or waiting for room: caught up later)."""
        self.ingestors.pop(run_id, None)
        self.checkers.pop(run_id, None)
        self.locks.pop(run_id, None)
        if run_id in self.room.paused:
            self.room.catch_up.add(run_id)

    async def loop(self, running) -> None:
        """Read every run in `running()`, every INTERVAL, forever, then the ended runs whose
        metrics waited for room; while the follower has urgent runs, those every
        URGENT_INTERVAL."""
        last_full = 0.0
        while True:
            follower = self.follower
            hurried = follower is not None and follower.hurried()
            await asyncio.sleep(URGENT_INTERVAL if hurried else INTERVAL)
            now = time.monotonic()
            full = not hurried or now - last_full >= INTERVAL - URGENT_INTERVAL / 2
            if full:
                last_full = now
            supervised = running()
            for run_id in supervised:
                if full or (follower is not None and follower.urgent(run_id)):
                    await self.ingest_safely(run_id)
            if full:
                for run_id in sorted(self.room.catch_up - set(supervised)):
                    await self._catch_up(run_id)

    async def _catch_up(self, run_id: int) -> None:
        """Read an ended run's metrics that waited for room, to the end of its files."""
        if not await self.ingest_safely(run_id, final=True) or run_id in self.room.paused:
            return                                        # more next time
        try:
            self.ledger.metrics_caught_up(run_id)
        except StoreError as exc:
            log.debug("metrics of ended run %s: %s", run_id, exc.message)
            return
        self.room.catch_up.discard(run_id)
        self.forget(run_id)
        log.info("run %s: its metrics caught up", run_id)

    async def ingest_safely(self, run_id: int, final: bool = False) -> bool:
        """`ingest`, so that nothing in a run's output or files can stop the engine: a
        failure is logged and recorded on the run, once; the run goes on. False when the
        store refused the points (they are read again later)."""
        if run_id in self.failed:
            return True
        try:
            await self.ingest(run_id, check_rules=not final, final=final)
        except (OSError, StoreError) as exc:
            quiet = self.ledger.problem is not None           # the ledger logs those
            log.log(logging.DEBUG if quiet else logging.WARNING,
                    "metrics of run %s: %s", run_id, exc)
            return False
        except Exception as exc:      # a reader's bug must not end the run or the engine
            log.exception("metrics of run %s: reading stopped", run_id)
            self.failed.add(run_id)
            self.ingestors.pop(run_id, None)
            self.ledger.event(run_id, "metrics", f"reading metrics stopped: engine error "
                                                 f"{exc!r} (see the engine log)")
        return True

    async def ingest(self, run_id: int, check_rules: bool = True, final: bool = False) -> None:
        """Read new points; check the run's stop rules on them while it runs. With `final`
        (the run has ended), read to the end, its unfinished last line included."""
        lock = self.locks.setdefault(run_id, asyncio.Lock())
        async with lock:          # the ingest loop and a run's final read never overlap
            await self._ingest_locked(run_id, check_rules, final)

    async def _ingest_locked(self, run_id: int, check_rules: bool, final: bool) -> None:
        """The next chunk is read (in a thread) while the points of one are stored. Nothing
        is stored while the store's disk is short of room (metric_room); points the store
        refused are read again from the stored position."""
        if self._short_of_room(run_id):
            return
        ingestor = self.ingestors.get(run_id) or self._new_ingestor(run_id)
        batch = await asyncio.to_thread(ingestor.poll, final)
        chunks = 1
        while True:
            reading = None
            if batch.more and (final or chunks < MAX_CHUNKS_PER_ROUND):
                reading = asyncio.ensure_future(asyncio.to_thread(ingestor.poll, final))
                chunks += 1
            try:
                if chunks > 1 and self._short_of_room(run_id):
                    raise _Paused
                await self._store(run_id, ingestor, batch)
            except BaseException as exc:
                if reading is not None:
                    await asyncio.gather(reading, return_exceptions=True)
                if isinstance(exc, (StoreError, _Paused)):
                    self.ingestors.pop(run_id, None)      # the stored position is the truth
                    self.checkers.pop(run_id, None)
                if isinstance(exc, _Paused):
                    return
                raise
            for warning in batch.warnings:
                log.warning("metrics of run %s: %s", run_id, warning)
                self.ledger.event(run_id, "metrics", warning)
            checker = self.checkers.get(run_id)
            if checker is not None and check_rules and (why := checker.feed(batch.rows)):
                del self.checkers[run_id]
                self.stop(run_id, why)
            if self.follower is not None and batch.rows:
                self.follower.observe(run_id, batch.rows, check_rules)
            if reading is None:
                return
            batch = await reading

    def _short_of_room(self, run_id: int) -> bool:
        """Pause the run's metrics while the disk is short of room (said once on the run,
        and kept in the store so a restarted engine catches it up); say when they resume."""
        short = self.room.shortage()
        if short is None:
            if self.room.resumed(run_id):
                self.ledger.event(run_id, "metrics", "reading metrics again: the store has room")
            return False
        if self.room.pause(run_id):
            log.warning("run %s: metrics paused: %s", run_id, short)
            try:
                self.ledger.event(run_id, "metrics", f"metrics paused: {short}")
                self.ledger.mark_metrics_pending(run_id)
            except StoreError as exc:
                log.warning("run %s: cannot note the pause: %s", run_id, exc.message)
        return True

    async def _store(self, run_id: int, ingestor: Ingestor, batch: Batch) -> None:
        """Points in transactions of at most STORE_BATCH; the ingest position goes with the
        last (after a crash in between, the rest is read again and lands on the same
        steps)."""
        rows = batch.rows
        if not rows and not batch.warnings:
            return
        chunks = [rows[i:i + STORE_BATCH] for i in range(0, len(rows), STORE_BATCH)] or [[]]
        for chunk in chunks[:-1]:
            self.ledger.add_metrics(run_id, chunk)
            await asyncio.sleep(0)
        ingestor.latest = latest_values(ingestor.latest, rows)
        self.ledger.add_metrics(run_id, chunks[-1], ingestor.latest, batch.state)

    def _new_ingestor(self, run_id: int) -> Ingestor:
        saved = metric_queries.ingest_record(self.ledger.conn, run_id)
        run_dir = self.paths.run_dir(run_id)
        ingestor = self.ingestors[run_id] = Ingestor(
            run_dir / "output.log", run_dir / "metrics.jsonl",
            MetricRules.from_options(saved.options), IngestState.from_dict(saved.ingest))
        ingestor.latest = saved.latest
        if saved.stop_if:
            checker = stoprules.Checker(stoprules.parse_all(saved.stop_if))
            # After an engine restart, the points seen before count (plateau needs them).
            seen = metric_queries.metric_series(self.ledger.conn, run_id, sorted(checker.keys))
            earlier = sorted((step, key, value) for key, points in seen.items()
                             for step, value in points)
            checker.feed([(key, step, None if value != value else value)
                          for step, key, value in earlier])
            self.checkers[run_id] = checker
        return ingestor
