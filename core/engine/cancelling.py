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
CANCEL_BATCH = 500          # queued runs cancelled per transaction (core.store.ledger)
QUEUED_CANCEL_REASON = "cancelled (cancelled while queued)"     # what Runner.finish says


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
    started = set(await cancel_queued(runner, queued))
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


async def cancel_queued(runner: Runner, ids: list[int]) -> list[int]:
    """Cancel queued runs CANCEL_BATCH at a time, one transaction each, serving other
    clients in between; as `Runner.cancel` does one by one (a queued run never started, so
    it has no record in a folder to keep). Returns the ids of those that left the queue
    meanwhile (they started): the caller cancels them as running runs."""
    left: list[int] = []
    for start in range(0, len(ids), CANCEL_BATCH):
        chunk = ids[start:start + CANCEL_BATCH]
        done = runner.ledger.cancel_queued(chunk, QUEUED_CANCEL_REASON)
        left += sorted(set(chunk) - set(done))
        ended = run_queries.runs_by_id(runner.ledger.conn, done)
        for run_id in done:
            runner.tell_ended(ended[run_id], for_good=True)
        runner.on_change()
        await asyncio.sleep(0)
    return left
