"""Dependencies (`--after`): which queued runs may start, and which can never start.

A run that depends on others starts when each of them succeeded. A dependency that was
retried counts by its last attempt. A run of a chain waits for an earlier sweep step by its
group: it starts when every run of the group succeeded (each by its last attempt). When one ends any other way (failed, cancelled,
stopped, lost, with no retry coming), the dependent run ends `failed` without starting,
with cause `dependency` and the reason `dependency failed: run 3 failed`; runs that
depend on it then fail the same way, down the chain.
"""

from __future__ import annotations

import json
import sqlite3

from core.models import RunState
from core.store.queue_queries import group_active, group_failure, latest_attempts

PENDING = "pending"


def check(conn: sqlite3.Connection, rows) -> dict[int, str]:
    """For queued runs (rows with `id` and `depends_on`): PENDING, or why they can never
    start. Runs whose dependencies all succeeded are left out."""
    wanted = {row["id"]: json.loads(row["depends_on"]) for row in rows}
    latest = latest_attempts(conn, {d for deps in wanted.values() for d in deps})
    groups: dict[int, str | None] = {}
    out: dict[int, str] = {}
    for row in rows:
        run_id = row["id"]
        for dep in wanted[run_id]:
            why = run_verdict(dep, latest.get(dep))
            if why is not None:
                out[run_id] = why
                if why != PENDING:
                    break
        if out.get(run_id, PENDING) != PENDING:
            continue
        for group in json.loads(row.get("after_groups") or "[]"):
            if group not in groups:
                groups[group] = group_verdict(conn, group)
            why = groups[group]
            if why is not None:
                out[run_id] = why
                if why != PENDING:
                    break
    return out


def run_verdict(dep: int, latest: tuple[int, str] | None) -> str | None:
    """For a run that waits for run `dep` (whose last attempt is `latest`: id, state):
    None once it succeeded, PENDING before it ends, else why the waiting run fails."""
    if latest is None:
        return f"dependency failed: run {dep} does not exist"
    last_id, state = latest
    if state == RunState.SUCCEEDED.value:
        return None
    if not RunState(state).terminal:
        return PENDING
    return failure(dep, last_id, state)


def group_verdict(conn: sqlite3.Connection, group: int) -> str | None:
    """For a run that waits for every run of `group`: None once each succeeded, PENDING
    while one is queued or running, else why the waiting run fails."""
    if group_active(conn, group):
        return PENDING
    failed = group_failure(conn, group)
    if failed is None:
        return None
    first, last_id, state = failed
    return failure(first, last_id, state).replace("dependency failed: run",
                                                  f"dependency failed: group {group}: run", 1)


def failure(dep: int, last_id: int, state: str) -> str:
    """The reason a run that depends on `dep` fails: `dependency failed: run 3 failed`."""
    verb = {"cancelled": "was cancelled", "stopped": "was stopped by a rule",
            "lost": "was lost"}.get(state, state)
    via = f" (its attempt {last_id})" if last_id != dep else ""
    return f"dependency failed: run {dep} {verb}{via}"
