"""Watching the store for changes cheaply: the app never re-reads every run to find one change.

`PRAGMA data_version` tells whether any other connection committed since the last look
(microseconds). Only then are the changed runs read: those with new events (every state
change writes one), new runs, and the runs still active (their metrics change without an
event); runs removed with `tui rm` are listed in `removed`. GPU figures come from the
`targets` table, where the engine records them.
"""

from __future__ import annotations

import json
import sqlite3

from core.store import db
from core.store import runlist_queries as reads
from core.store import queries as run_queries
from core.store import metric_queries
from core.paths import StorePaths
from tui.runlist.rows import RunRow


class StoreWatch:
    def __init__(self, paths: StorePaths):
        self.paths = paths
        self.conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._last_event = 0
        self._max_id = 0
        self._last_removal = 0
        self.removed: list[int] = []        # ids removed since the last look; the reader clears

    def open(self) -> sqlite3.Connection | None:
        """Connect when the store exists (it may appear later, with the first launch)."""
        if self.conn is None:
            try:
                conn = db.connect(self.paths.db)
            except FileNotFoundError:
                return None
            if db.schema_version(conn) == 0:          # the engine is creating it right now
                conn.close()
                return None
            db.check_readable(conn)
            self.conn = conn
        return self.conn

    def load_recent(self, limit: int | None) -> list[RunRow]:
        """The newest `limit` runs (all with None); later changes come from `changed()`.

        The rest are read by `read_older()`, in a worker thread, so the first screen of a
        store with 100,000 runs costs what one with 500 does.
        """
        if (conn := self.open()) is None:
            return []
        self._version = reads.data_version(conn)
        self._last_event = reads.last_event_id(conn)
        self._removals(conn)
        self.removed = []
        seen: dict = {}
        rows = [RunRow.from_sql(r, seen) for r in reads.newest_rows(conn, limit)]
        rows.reverse()
        self._max_id = rows[-1].id if rows else 0
        return rows

    def changed(self, active_ids) -> list[RunRow] | None:
        """Rows that may have changed since the last call; None when nothing was committed."""
        if (conn := self.open()) is None:
            return None
        version = reads.data_version(conn)
        if version == self._version:
            return None
        self._version = version
        self.removed += self._removals(conn)
        ids = set(active_ids)
        for run_id, event_id in reads.events_since(conn, self._last_event):
            ids.add(run_id)
            self._last_event = max(self._last_event, event_id)
        ids.update(reads.ids_above(conn, self._max_id))
        if not ids:
            return []
        rows = [RunRow.from_sql(r) for r in reads.rows_by_id(conn, sorted(ids))]
        if rows:
            self._max_id = max(self._max_id, max(r.id for r in rows))
        return rows

    def _removals(self, conn: sqlite3.Connection) -> list[int]:
        found = reads.removals_since(conn, self._last_removal)
        if found:
            self._last_removal = found[-1][0]
        return [run_id for _, run_id in found]

    def read_older(self, below: int) -> list[RunRow]:
        """Every run with an id below `below`, on this thread's own connection."""
        conn = db.connect(self.paths.db)
        try:
            seen: dict = {}
            return [RunRow.from_sql(r, seen) for r in reads.rows_below(conn, below)]
        finally:
            conn.close()

    def gpu_figures(self) -> dict[tuple[str, int], dict]:
        """{(target, gpu index): {"utilization_pct", "memory_used_mb", ...}} as last recorded."""
        if (conn := self.open()) is None:
            return {}
        out = {}
        for name, gpus in reads.recorded_gpus(conn):
            try:
                for gpu in json.loads(gpus) or []:
                    out[(name, int(gpu["index"]))] = gpu
            except (ValueError, TypeError, KeyError):
                continue                        # a row written by another version
        return out

    def spark_values(self, run_id: int, key: str, count: int) -> list[float]:
        """The last `count` values of one metric, oldest first (NaN left out)."""
        if (conn := self.open()) is None:
            return []
        return reads.last_values(conn, run_id, key, count)

    def groups(self, ids=None) -> dict[int, dict]:
        """{id: GROUP} of every sweep, chain, watch and search (names for the filter and
        group rows; a search's progress), or of these groups."""
        if (conn := self.open()) is None:
            return {}
        return {g["id"]: g for g in run_queries.groups_json(conn, ids)}

    def extremes(self, run_ids, keys) -> dict:
        """Each run's min and max of these metrics (results shown as best, min or max)."""
        if (conn := self.open()) is None:
            return {}
        return metric_queries.metric_extremes(conn, run_ids, keys)

    def curves(self, run_ids, key: str, positive: bool = False) -> dict[int, list]:
        """One metric's drawable points (no NaN or infinities; with `positive`, none <= 0)
        for several runs (the charts)."""
        if (conn := self.open()) is None:
            return {}
        return metric_queries.metric_series_of_runs(conn, run_ids, key, drawable=True,
                                                 positive=positive)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
