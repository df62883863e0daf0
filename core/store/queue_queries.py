"""What the scheduler, the queue gate, plans and caching read: queued and running runs,
their constraints, attempts, and spec keys. Named queries only; the engine writes none."""

from __future__ import annotations

import json
import sqlite3

_CHUNK = 500                # ids per `IN (...)`: well under SQLite's variable limit


def _marks(values) -> str:
    return ",".join("?" * len(values))


_QUEUE_ENTRY = ("SELECT id, target, gpus, priority, depends_on, after_groups, not_before, "
                "avoid_gpus, after_search FROM runs WHERE state = 'queued'")


def queue_entries(conn: sqlite3.Connection, ids: list[int] | None = None,
                  above: int | None = None) -> list[tuple]:
    """(id, target, gpus, priority, depends_on JSON, after_groups JSON, not_before,
    avoid_gpus JSON, after_search) of queued runs: these `ids`, those with an id `above` this one, or
    (neither given) all of them."""
    if above is not None:
        return conn.execute(_QUEUE_ENTRY + " AND id > ?", (above,)).fetchall()
    if ids is None:
        return conn.execute(_QUEUE_ENTRY).fetchall()
    out: list[tuple] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        out.extend(conn.execute(_QUEUE_ENTRY + f" AND id IN ({_marks(chunk)})", chunk))
    return out


def group_active(conn: sqlite3.Connection, group_id: int) -> bool:
    """Whether a run of this group is queued or running (the (group_id, state) index)."""
    return conn.execute("SELECT 1 FROM runs WHERE group_id = ? AND state IN "
                        "('queued', 'running') LIMIT 1", (group_id,)).fetchone() is not None


def group_failure(conn: sqlite3.Connection, group_id: int) -> tuple[int, int, str] | None:
    """A last attempt of this group that did not succeed: (run id the user knows, i.e. the
    first attempt, the attempt's id, its state), or None when every one succeeded."""
    row = conn.execute("SELECT coalesce(retry_of, id), id, state FROM runs WHERE group_id = ? "
                       "AND state != 'succeeded' AND retried_as IS NULL ORDER BY id LIMIT 1",
                       (group_id,)).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def groups_exist(conn: sqlite3.Connection, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    ids_list = sorted(ids)
    return {row[0] for row in conn.execute(
        f"SELECT id FROM groups WHERE id IN ({_marks(ids_list)})", ids_list)}


def running_placements(conn: sqlite3.Connection) -> list[tuple[str, tuple[int, ...]]]:
    """(target, GPU ids) of every running run: what is taken now."""
    return [(row[0], tuple(json.loads(row[1]))) for row in conn.execute(
        "SELECT target, gpu_ids FROM runs WHERE state = 'running'")]


def targets_with_gpus_in_use(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute(
        "SELECT DISTINCT target FROM runs WHERE state = 'running' AND gpu_ids != '[]'")}


def target_recorded(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM targets WHERE name = ?", (name,)).fetchone() is not None


def active_by_target(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """{target: {"queued": n, "running": n}} for targets with active runs."""
    counts: dict[str, dict[str, int]] = {}
    for target, state, n in conn.execute(
            "SELECT target, state, count(*) FROM runs "
            "WHERE state IN ('queued', 'running') GROUP BY target, state"):
        counts.setdefault(target, {})[state] = n
    return counts


def next_run_id(conn: sqlite3.Connection) -> int:
    """One above every id ever given: a removed run's id is not given out again."""
    return conn.execute(
        "SELECT max(coalesce((SELECT max(id) FROM runs), 0), "
        "coalesce((SELECT max(run_id) FROM removed), 0)) + 1").fetchone()[0]


def latest_attempts(conn: sqlite3.Connection, ids: set[int]) -> dict[int, tuple[int, str]]:
    """For each run id: (id of its last attempt, that attempt's state)."""
    if not ids:
        return {}
    ids_list = sorted(ids)
    roots = {row[0]: row[1] for row in conn.execute(
        f"SELECT id, coalesce(retry_of, id) FROM runs WHERE id IN ({_marks(ids_list)})",
        ids_list)}
    root_list = sorted(set(roots.values()))
    last = {}
    if root_list:
        # SQLite returns the bare columns of the row holding max(attempt).
        for root, run_id, state, _attempt in conn.execute(
                f"SELECT coalesce(retry_of, id) AS root, id, state, max(attempt) FROM runs "
                f"WHERE id IN ({_marks(root_list)}) OR retry_of IN ({_marks(root_list)}) "
                f"GROUP BY root", root_list + root_list):
            last[root] = (run_id, state)
    return {i: last[roots[i]] for i in ids if i in roots and roots[i] in last}


def succeeded_key_prefixes(conn: sqlite3.Connection, length: int) -> set[str]:
    """The first `length` characters of the spec key of every run that succeeded."""
    return {row[0] for row in conn.execute(
        "SELECT DISTINCT substr(spec_key, 1, ?) FROM runs "
        "WHERE state = 'succeeded' AND spec_key IS NOT NULL", (length,))}


def succeeded_by_spec_key(conn: sqlite3.Connection, keys: list[str]) -> dict[str, int]:
    """For each of these spec keys that a run succeeded with: the newest such run."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        found.update(conn.execute(
            f"SELECT spec_key, max(id) FROM runs WHERE state = 'succeeded' AND spec_key IN "
            f"({_marks(chunk)}) GROUP BY spec_key", chunk).fetchall())
    return found
