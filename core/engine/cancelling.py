"""`tui cancel`: queued runs end at once, in batches; running runs get SIGTERM, a grace
period, then SIGKILL (their executor's `cancel`), and the reply waits for their end."""

from __future__ import annotations

import asyncio
import logging

from core.engine import connection
from core.engine.runner import Runner
from core.errors import UnknownRun
from core.models import RunState
from core.store import queries as run_queries
from core.store import queue_queries

log = logging.getLogger("runyard.engine")

CANCEL_SLACK = 30.0         # seconds past the longest grace period before the reply gives up


async def cancel(runner: Runner, ids: list[int]) -> dict:
    """Cancel these runs; a run that was retried is cancelled at its last attempt."""
    conn = runner.ledger.conn
    latest = queue_queries.latest_attempts(conn, set(ids))       # id -> (last attempt, state)
    for run_id in ids:
        if run_id not in latest:
            raise UnknownRun(f"no run with id {run_id}", hint="list runs with: tui status --all")
    state = dict(latest[run_id] for run_id in ids)
    results = [{"id": run_id, "state": now, "changed": False}
               for run_id, now in state.items() if RunState(now).terminal]
    queued = [run_id for run_id, now in state.items() if now == RunState.QUEUED.value]
    started = set(await runner.cancel_queued(queued))
    results += [{"id": run_id, "state": RunState.CANCELLED.value, "changed": True}
                for run_id in queued if run_id not in started]
    active = [run_id for run_id, now in state.items()
              if now == RunState.RUNNING.value or run_id in started]
    breathe = connection.Breather()
    for run_id in active:
        await breathe()                   # heartbeats and other clients, on long lists
        await runner.cancel(run_queries.get_run(conn, run_id))
    grace = max((float(run_queries.options(conn, run_id).get("cancel_grace", 10.0))
                 for run_id in active), default=0.0)
    waits = [runner.until_finished(run_id) for run_id in active]
    try:
        await asyncio.wait_for(asyncio.gather(*waits), timeout=grace + CANCEL_SLACK)
    except asyncio.TimeoutError:
        log.warning("cancel of %s not confirmed after %.0f s", active, grace)
    for run_id in active:
        run = run_queries.get_run(conn, run_id)
        results.append({"id": run.id, "state": run.state.value, "changed": True})
    return {"runs": sorted(results, key=lambda r: r["id"])}
