"""`tui metrics`: a run's metrics, and reading ended runs' metrics anew (`--reparse`)."""

from __future__ import annotations

import os

from core.client import EngineClient
from core.errors import ExitCode, UsageError
from core.paths import StorePaths
from core.requests import ReparseRequest
from core.store import queries as run_queries
from core.store import metric_queries
from tui import formatting
from tui.cli.output import emit, say
from tui.cli.runs import TERMINAL, need_reader, resolve_ids


def metrics(args, paths: StorePaths) -> int:
    if args.reparse:
        return reparse(args, paths)
    if len(args.ids) != 1 or args.group is not None:
        raise UsageError("tui metrics shows one run", hint="several runs (or --group) go "
                                                            "with --reparse only")
    conn = need_reader(paths)
    run_id = run_queries.resolve_id(conn, args.ids[0])
    series = metric_queries.metric_series(conn, run_id, args.key or None)
    missing = [key for key in args.key or () if key not in series]
    state = run_queries.state_and_next_attempt(conn, run_id)
    if missing and state is not None and state[0] in TERMINAL:
        # An ended run's metrics are all there: a key it lacks is a typo, not "not yet"
        # (a run still going may print it later: a script polling it gets no points).
        known = sorted(metric_queries.latest_metrics(conn, run_id))
        raise UsageError(f"run {run_id} has no metric "
                         + ", ".join(repr(key) for key in missing),
                         hint=f"its metrics: {', '.join(known)}" if known
                         else "it has no metrics yet")
    if args.json:
        emit({"run": run_id, "metrics": {
            key: [[step, metric_queries.json_number(value)] for step, value in points]
            for key, points in series.items()}})
        return ExitCode.OK
    if not series:
        say(f"run {run_id} has no metrics yet")
        return ExitCode.OK
    rows = []
    for key, points in series.items():
        values = [v for _, v in points if v == v]
        rows.append([key, formatting.number(points[-1][1]), str(points[-1][0]),
                     formatting.number(min(values)) if values else "nan",
                     formatting.number(max(values)) if values else "nan", str(len(points))])
    print(formatting.table(["METRIC", "LAST", "STEP", "MIN", "MAX", "POINTS"], rows,
                           right={1, 2, 3, 4, 5}))
    return ExitCode.OK


def reparse(args, paths: StorePaths) -> int:
    """Read the runs' output anew with the `[metrics]` rules of their projects now."""
    conn = need_reader(paths)
    ids = resolve_ids(conn, args.ids)
    if args.group is not None:
        members = run_queries.list_runs(conn, all_runs=True, group=args.group)
        ended = [run.id for run in members if run.state.terminal]
        if len(ended) < len(members):
            say(f"group {args.group}: {len(members) - len(ended)} run(s) not ended are left out")
        ids += [run_id for run_id in ended if run_id not in ids]
    if not ids:
        raise UsageError("nothing to reparse", hint="give run ids, or --group G")
    reply = EngineClient(paths).request(ReparseRequest(ids=ids, env=dict(os.environ)))
    if args.json:
        emit({"runs": reply["runs"]})
    else:
        rows = [[str(item["id"]), str(item["points"]), str(item["points_before"]),
                 _clip(" ".join(item["metrics"]) or "-", 60)]
                for item in reply["runs"]]
        print(formatting.table(["ID", "POINTS", "BEFORE", "METRICS"], rows, right={0, 1, 2}))
    for item in reply["runs"]:
        say(f"run {item['id']}: read with {item['rules']}")
        for warning in item["warnings"]:
            say(f"run {item['id']}: warning: {warning}")
    return ExitCode.OK


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."
