"""Plan preview (`--dry-run`, the `plan` engine op): what a launch would do right now.

For each run it would create: its command, params, target, and what would happen to it
now: `start` (with the GPU ids the scheduler would give it), `queue` (no free slot or
GPU: it waits its turn), `wait` (for the runs it depends on), `cached` (a run with the
same spec already succeeded: nothing would start) or `fail` (a dependency already
failed). The placement is the scheduler's own (core.engine.scheduler.place) over the runs
queued and running now. Nothing is written: the caller hashed the snapshot without
storing it and did not register any target.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from core.engine import dependencies
from core.store import queries as run_queries
from core.store import queue_queries
from core.engine.launching import Batch
from core.models import default_name, now_iso
from core.engine.scheduler import Busy, Waiting, place
from core.engine.targets import TargetRuntime


def plan(conn: sqlite3.Connection, batch: Batch, runtimes: dict[str, TargetRuntime],
         reuse: list[int | None]) -> dict:
    waiting = _waiting_now(conn)
    busy = [Busy(target, gpus) for target, gpus in queue_queries.running_placements(conn)]
    first_id = queue_queries.next_run_id(conn)
    deps = queue_queries.latest_attempts(                   # stored `after`: run ids only
        conn, {int(d) for planned in batch.runs for d in planned.spec.policy.after})
    actions: list[tuple[str, str]] = []
    group_actions: dict[int, dict[str, int]] = {}   # group index -> {action: runs}
    for index, planned in enumerate(batch.runs):
        actions.append(_before_placement(planned, reuse[index], deps, actions, group_actions))
        if planned.group is not None:
            tally = group_actions.setdefault(planned.group, {})
            tally[actions[-1][0]] = tally.get(actions[-1][0], 0) + 1
        if actions[-1][0] == "start":
            spec = planned.spec
            waiting.append(Waiting(first_id + index, spec.target, spec.gpus, spec.priority))
    capacities = {name: runtime.capacity() for name, runtime in runtimes.items()
                  if runtime.ready and runtime.available()}
    placed = {p.run_id: p.gpu_ids for p in place(waiting, busy, capacities)}
    runs: list[dict[str, Any]] = []
    for index, planned in enumerate(batch.runs):
        action, detail = actions[index]
        spec = planned.spec
        gpus = None
        if action == "start":
            if first_id + index in placed:
                gpus = list(placed[first_id + index])
                detail = "starts now" + (f" on GPU {','.join(map(str, gpus))}" if gpus else "")
            elif spec.target not in capacities:
                action, detail = "queue", f"queued: target {spec.target} cannot be reached now"
            else:
                action, detail = "queue", "queued: no free slot or GPU on its target now"
        runs.append({"index": index, "name": spec.name or _name(spec.command),
                     "command": spec.command, "params": spec.params, "target": spec.target,
                     "gpu_count": spec.gpus, "gpus": gpus, "action": action, "detail": detail,
                     "cached_run": reuse[index], "after": spec.policy.after,
                     "after_plan": list(planned.after_local),
                     "after_groups": list(planned.after_groups), "group": planned.group,
                     "env": spec.env, "retries": spec.policy.retries,
                     "stop_if": spec.policy.stop_if,
                     "resume_from": None, "resume_point": planned.resume_point,
                     "spec_key": planned.key, "after_search": planned.after_search})
    counts: dict[str, int] = {}
    for item in runs:
        counts[item["action"]] = counts.get(item["action"], 0) + 1
    return {"runs": runs, "counts": counts, "snapshot": _snapshot_info(conn, batch),
            "groups": [{"index": i, "kind": g.kind, "name": g.name, "spec": g.spec,
                        "parent": g.parent} for i, g in enumerate(batch.groups)],
            "warnings": batch.warnings}


def _waiting_now(conn: sqlite3.Connection) -> list[Waiting]:
    """The queued runs the scheduler could place now: dependencies met, no retry delay."""
    now = now_iso()
    queued = queue_queries.queue_entries(conn)
    blocked = dependencies.check(conn, [{"id": row[0], "depends_on": row[4],
                                         "after_groups": row[5]}
                                        for row in queued if row[4] != "[]" or row[5] != "[]"])
    waiting = []
    for run_id, target, gpus, priority, _deps, _groups, not_before, avoid, after_search in queued:
        if run_id in blocked or (not_before and not_before > now) or after_search is not None:
            continue
        waiting.append(Waiting(run_id, target, gpus, priority, tuple(json.loads(avoid))))
    return waiting


def _before_placement(planned, cached_run, deps, earlier,
                      group_actions: dict[int, dict[str, int]]) -> tuple[str, str]:
    if cached_run is not None:
        return "cached", f"run {cached_run} already succeeded with this spec; nothing starts"
    for dep in planned.spec.policy.after:
        last = deps.get(dep)
        if last is None:
            return "fail", f"dependency failed: run {dep} does not exist"
        if last[1] in ("failed", "cancelled", "stopped", "lost"):
            return "fail", dependencies.failure(dep, last[0], last[1])
    for i in planned.after_local:
        if earlier[i][0] == "fail":
            return "fail", f"dependency failed: #{i} would fail"
    for group in planned.after_groups:
        if group_actions.get(group, {}).get("fail"):
            return "fail", f"dependency failed: a run of group #{group} would fail"
    if planned.after_search is not None:
        return "wait", "waits for the search to end, then takes its best trial's values"
    pending = [str(d) for d in planned.spec.policy.after if deps[d][1] != "succeeded"]
    pending += [f"#{i}" for i in planned.after_local if earlier[i][0] != "cached"]
    pending += [f"every run of group #{g}" for g in planned.after_groups
                if set(group_actions.get(g, {})) - {"cached"}]
    if pending:
        return "wait", "waits for " + ", ".join(pending)
    return "start", ""


def _snapshot_info(conn: sqlite3.Connection, batch: Batch) -> dict:
    if batch.snapshot is not None:
        snap = batch.snapshot
        return {"id": snap.id, "file_count": snap.file_count, "total_bytes": snap.total_bytes,
                "new_files": snap.new_files, "new_bytes": snap.new_bytes}
    size = run_queries.snapshot_size(conn, batch.snapshot_id)
    return {"id": batch.snapshot_id, "file_count": size[0] if size else None,
            "total_bytes": size[1] if size else None, "new_files": 0, "new_bytes": 0}


def _name(command: list[str]) -> str:
    return default_name(command)
