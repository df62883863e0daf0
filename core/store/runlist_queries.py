"""What the app's run list reads (tui.runlist): light rows, what changed since the last
look, removals, live GPU figures and a metric's recent values. Named queries only."""

from __future__ import annotations

import sqlite3

# The columns of a list row, in the order tui.runlist.rows.RunRow.from_sql takes them; the
# rest of a run (handle, options, env...) is read on demand.
LIST_COLUMNS = ("id, name, state, reason, exit_code, target, gpu_ids, gpus, template, params, "
                "tags, parent, created_at, started_at, finished_at, metrics, group_id, "
                "CASE WHEN state = 'running' THEN detail END, cause, "
                "CASE WHEN state = 'queued' THEN depends_on END, "
                "CASE WHEN state = 'queued' THEN after_groups END, "
                "CASE WHEN state = 'queued' THEN after_search END")


def data_version(conn: sqlite3.Connection) -> int:
    """Changes when any other connection commits (microseconds to ask)."""
    return conn.execute("PRAGMA data_version").fetchone()[0]


def last_event_id(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


def newest_rows(conn: sqlite3.Connection, limit: int | None) -> list[tuple]:
    """The newest `limit` runs as list rows (every run with None), newest first."""
    return conn.execute(f"SELECT {LIST_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?",
                        (-1 if limit is None else limit,)).fetchall()


def rows_by_id(conn: sqlite3.Connection, ids: list[int]) -> list[tuple]:
    return conn.execute(f"SELECT {LIST_COLUMNS} FROM runs WHERE id IN "
                        f"({','.join('?' * len(ids))})", ids).fetchall()


def rows_below(conn: sqlite3.Connection, below: int) -> list[tuple]:
    """Every run with an id below `below`, oldest first."""
    return conn.execute(f"SELECT {LIST_COLUMNS} FROM runs WHERE id < ? ORDER BY id",
                        (below,)).fetchall()


def events_since(conn: sqlite3.Connection, event_id: int) -> list[tuple[int, int]]:
    """(run id, event id) of every event after `event_id`: the runs whose state changed."""
    return conn.execute("SELECT run_id, id FROM events WHERE id > ?", (event_id,)).fetchall()


def ids_above(conn: sqlite3.Connection, run_id: int) -> list[int]:
    return [row[0] for row in conn.execute("SELECT id FROM runs WHERE id > ?", (run_id,))]


def removals_since(conn: sqlite3.Connection, seq: int) -> list[tuple[int, int]]:
    """(seq, run id) of the runs removed with `tui rm` after `seq`, in order."""
    try:
        return conn.execute("SELECT seq, run_id FROM removed WHERE seq > ? ORDER BY seq",
                            (seq,)).fetchall()
    except sqlite3.OperationalError:          # a store the engine has not migrated yet
        return []


def recorded_gpus(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(target, GPU figures as JSON) as the engine last recorded them."""
    return conn.execute("SELECT name, gpus FROM targets WHERE gpus IS NOT NULL").fetchall()


def last_values(conn: sqlite3.Connection, run_id: int, key: str, count: int) -> list[float]:
    """The last `count` values of one metric, oldest first (NaN left out)."""
    values = [value for (value,) in conn.execute(
        "SELECT value FROM metrics WHERE run_id = ? AND key = ? ORDER BY step DESC LIMIT ?",
        (run_id, key, count)) if value is not None]
    values.reverse()
    return values
