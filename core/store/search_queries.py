"""What is read about adaptive searches: their rows, their trials, progress and best trial.

Named queries (the engine's driver rebuilds a study from these; the CLI and the app show
progress from `progress`). A trial's run is its first attempt; its retries are found by
`retry_of`.
"""

from __future__ import annotations

import json
import sqlite3

# A search that is running, or that has trials still in flight, is looked after by the
# engine (told of its trials' ends).
_LIVE = "state = 'running' OR group_id IN (SELECT group_id FROM trials WHERE state = 'running')"


def search(conn: sqlite3.Connection, group_id: int) -> dict | None:
    """The search's row with its group's name and spec, or None (not a search)."""
    row = conn.execute(
        "SELECT s.group_id, s.state, s.budget, s.reason, s.template, g.name, g.spec, "
        "g.parent FROM searches s JOIN groups g ON g.id = s.group_id WHERE s.group_id = ?",
        (group_id,)).fetchone()
    if row is None:
        return None
    return {"group": row[0], "state": row[1], "budget": row[2], "reason": row[3],
            "template": json.loads(row[4]), "name": row[5], "spec": json.loads(row[6]),
            "parent": row[7]}


def live_searches(conn: sqlite3.Connection) -> list[int]:
    """Searches the engine must look after now: running, or with trials in flight."""
    return [row[0] for row in conn.execute(
        f"SELECT group_id FROM searches WHERE {_LIVE} ORDER BY group_id")]


def has_searches(conn: sqlite3.Connection) -> bool:
    return conn.execute(f"SELECT 1 FROM searches WHERE {_LIVE} LIMIT 1").fetchone() is not None


def trials(conn: sqlite3.Connection, group_id: int) -> list[dict]:
    """Every trial of a search, by number."""
    return [{"number": r[0], "run": r[1], "params": json.loads(r[2]), "state": r[3],
             "value": r[4], "result_run": r[5], "reason": r[6], "attrs": json.loads(r[7]),
             "told": r[8], "pruned_step": r[9]}
            for r in conn.execute(
                "SELECT number, run_id, params, state, value, result_run, reason, attrs, told, "
                "pruned_step FROM trials WHERE group_id = ? ORDER BY number", (group_id,))]


def trial_of_run(conn: sqlite3.Connection, run_id: int) -> tuple[int, int] | None:
    """(search, trial number) of the trial in flight whose run (or its retry) this is."""
    row = conn.execute(
        "SELECT t.group_id, t.number FROM runs r JOIN trials t "
        "ON t.run_id = coalesce(r.retry_of, r.id) AND t.state = 'running' "
        "WHERE r.id = ? ORDER BY t.number LIMIT 1", (run_id,)).fetchone()
    return (row[0], row[1]) if row else None


def trial_of(conn: sqlite3.Connection, run_id: int) -> dict | None:
    """The trial a run was made for (any attempt), as `tui show` tells it."""
    row = conn.execute(
        "SELECT t.group_id, t.number, t.state, t.value, t.reason FROM runs r JOIN trials t "
        "ON t.run_id = coalesce(r.retry_of, r.id) JOIN searches s ON s.group_id = t.group_id "
        "AND s.group_id = r.group_id WHERE r.id = ? ORDER BY t.number LIMIT 1",
        (run_id,)).fetchone()
    if row is None:
        return None
    return {"search": row[0], "number": row[1], "state": row[2], "value": row[3],
            "reason": row[4]}


def fail_streak(conn: sqlite3.Connection, group_id: int) -> list[str]:
    """The reasons of the trials told `fail` most recently, in a row (newest first)."""
    reasons = []
    for state, reason in conn.execute(
            "SELECT state, reason FROM trials WHERE group_id = ? AND told > (SELECT told_from "
            "FROM searches WHERE group_id = ?) ORDER BY told DESC", (group_id, group_id)):
        if state != "fail":
            break
        reasons.append(reason or "failed")
    return reasons


def waiting_for(conn: sqlite3.Connection, group_id: int) -> list[int]:
    """Queued runs of later workflow steps that wait for this search to end."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM runs WHERE after_search = ? AND state = 'queued' ORDER BY id",
        (group_id,))]


def progress(conn: sqlite3.Connection, group_ids: list[int]) -> dict[int, dict]:
    """{search: its state, budget, trials by outcome, and best trial} for these groups."""
    ids = sorted(set(group_ids))
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    out: dict[int, dict] = {}
    for gid, state, budget, reason, spec, complete, pruned, failed, running in conn.execute(
            f"""SELECT s.group_id, s.state, s.budget, s.reason, g.spec,
                       count(CASE WHEN t.state = 'complete' THEN 1 END),
                       count(CASE WHEN t.state = 'pruned' THEN 1 END),
                       count(CASE WHEN t.state = 'fail' THEN 1 END),
                       count(CASE WHEN t.state = 'running' THEN 1 END)
                FROM searches s JOIN groups g ON g.id = s.group_id
                LEFT JOIN trials t ON t.group_id = s.group_id
                WHERE s.group_id IN ({marks}) GROUP BY s.group_id""", ids):
        objective = json.loads(spec)["objective"]
        out[gid] = {"state": state, "reason": reason, "budget": budget,
                    "done": complete + pruned, "complete": complete, "pruned": pruned,
                    "failed": failed, "running": running,
                    "best": best_trial(conn, gid, objective["direction"] == "min")}
    return out


def best_trial(conn: sqlite3.Connection, group_id: int, minimize: bool) -> dict | None:
    """The completed trial with the best objective (the earliest of equals)."""
    order = "ASC" if minimize else "DESC"
    row = conn.execute(
        f"SELECT number, value, result_run, params FROM trials WHERE group_id = ? AND "
        f"state = 'complete' AND value IS NOT NULL ORDER BY value {order}, number LIMIT 1",
        (group_id,)).fetchone()
    if row is None:
        return None
    return {"trial": row[0], "value": row[1], "run": row[2], "params": json.loads(row[3])}
