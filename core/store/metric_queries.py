"""Reading metrics from the database: a run's series, several runs' curves and extremes,
and what the engine's metric ingest goes on from.

Part of the store's read API (see core.store.queries); NaN is stored as NULL and comes
back as float('nan'), and `json_number` writes it, and the infinities, as JSON can.
"""

from __future__ import annotations

import json
import math
import sqlite3
from typing import NamedTuple

from core.errors import UnknownRun


def latest_metrics(conn: sqlite3.Connection, run_id: int) -> dict:
    """The run's last value of each metric, as the list shows them."""
    return json.loads(conn.execute("SELECT metrics FROM runs WHERE id = ?",
                                   (run_id,)).fetchone()[0])


def metric_series(conn: sqlite3.Connection, run_id: int, keys=None) -> dict[str, list]:
    """{key: [[step, value], ...]} in step order; NaN values come back as float('nan')."""
    sql = "SELECT key, step, value FROM metrics WHERE run_id = ?"
    args: list = [run_id]
    if keys:
        sql += f" AND key IN ({','.join('?' * len(keys))})"
        args.extend(keys)
    out: dict[str, list] = {}
    for key, step, value in conn.execute(sql + " ORDER BY key, step", args):
        out.setdefault(key, []).append([step, math.nan if value is None else value])
    return out


def metric_extremes(conn: sqlite3.Connection, run_ids, keys) -> dict[int, dict[str, tuple]]:
    """{run id: {key: (min, max)}} of these metrics over every step (NaN left out), for
    results shown as best, min or max; one query per 500 runs, on the primary key."""
    ids, keys = list(run_ids), list(keys)
    out: dict[int, dict[str, tuple]] = {}
    if not ids or not keys:
        return out
    key_marks = ",".join("?" * len(keys))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for run_id, key, low, high in conn.execute(
                f"SELECT run_id, key, min(value), max(value) FROM metrics WHERE run_id IN "
                f"({','.join('?' * len(chunk))}) AND key IN ({key_marks}) GROUP BY run_id, key",
                [*chunk, *keys]):
            out.setdefault(run_id, {})[key] = (low, high)
    return out


def metric_series_of_runs(conn: sqlite3.Connection, run_ids, key: str, *,
                          drawable: bool = False, positive: bool = False) -> dict[int, list]:
    """{run id: [(step, value), ...]} of one metric for several runs (the compare view's
    curves), in step order; NaN values come back as float('nan'). `drawable` leaves out
    NaN and infinities, `positive` values <= 0 too (a log scale): SQLite filters them,
    which saves a Python pass over half a million points."""
    out: dict[int, list] = {run_id: [] for run_id in run_ids}
    ids = list(out)
    where = ""
    if drawable:
        where = " AND value IS NOT NULL AND value BETWEEN -1.7e308 AND 1.7e308"
    if positive:
        where += " AND value > 0"
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = conn.execute(
            f"SELECT run_id, step, value FROM metrics WHERE run_id IN "
            f"({','.join('?' * len(chunk))}) AND key = ?{where} ORDER BY run_id, step",
            [*chunk, key])
        for run_id, step, value in rows:
            out[run_id].append((step, math.nan if value is None else value))
    return out


def json_number(value: float):
    """JSON has no NaN or infinity: those become the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


# ---------------------------------------------------------------- metric ingest

class IngestRecord(NamedTuple):
    """What the engine needs to go on reading a run's metrics."""
    options: dict
    ingest: dict            # core.engine.ingest.IngestState, as stored
    latest: dict            # the run's latest value per metric
    stop_if: list


def ingest_record(conn: sqlite3.Connection, run_id: int) -> IngestRecord:
    row = conn.execute("SELECT options, ingest, metrics, stop_if FROM runs WHERE id = ?",
                       (run_id,)).fetchone()
    if row is None:
        raise UnknownRun(f"no run {run_id}")
    return IngestRecord(json.loads(row[0] or "{}"), json.loads(row[1] or "{}"),
                        json.loads(row[2] or "{}"), json.loads(row[3] or "[]"))


def metric_point_count(conn: sqlite3.Connection, run_id: int) -> int:
    return conn.execute("SELECT count(*) FROM metrics WHERE run_id = ?", (run_id,)).fetchone()[0]
