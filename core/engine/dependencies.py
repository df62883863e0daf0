"""Dependencies (`--after`): which queued runs may start, and which can never start.

A run that depends on others starts when each of them succeeded. A dependency that was
retried counts by its last attempt. When one ends any other way (failed, cancelled,
stopped, lost, with no retry coming), the dependent run ends `failed` without starting,
with cause `dependency` and the reason `dependency failed: run 3 failed`; runs that
depend on it then fail the same way, down the chain.
"""

from __future__ import annotations

import json
import sqlite3

from core.models import RunState
from core.store.queue_queries import latest_attempts

PENDING = "pending"


def check(conn: sqlite3.Connection, rows) -> dict[int, str]:
    """For queued runs (rows with `id` and `depends_on`): PENDING, or why they can never
    start. Runs whose dependencies all succeeded are left out."""
    wanted = {row["id"]: json.loads(row["depends_on"]) for row in rows}
    latest = latest_attempts(conn, {d for deps in wanted.values() for d in deps})
    out: dict[int, str] = {}
    for run_id, deps in wanted.items():
        for dep in deps:
            found = latest.get(dep)
            if found is None:
                out[run_id] = f"dependency failed: run {dep} does not exist"
                break
            last_id, state = found
            if state == RunState.SUCCEEDED.value:
                continue
            if not RunState(state).terminal:
                out[run_id] = PENDING
                continue
            out[run_id] = failure(dep, last_id, state)
            break
    return out


def failure(dep: int, last_id: int, state: str) -> str:
    """The reason a run that depends on `dep` fails: `dependency failed: run 3 failed`."""
    verb = {"cancelled": "was cancelled", "stopped": "was stopped by a rule",
            "lost": "was lost"}.get(state, state)
    via = f" (its attempt {last_id})" if last_id != dep else ""
    return f"dependency failed: run {dep} {verb}{via}"
