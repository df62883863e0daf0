"""Reading ended runs' metrics anew with the rules their projects have now.

`tui metrics --reparse ID...` sends one request; for each run the engine reads the
`[metrics]` rules a launch from the run's folder would read now (the user config and the
project's runyard.toml or pyproject.toml), reads output.log and metrics.jsonl from the
start, and replaces the run's points, latest values and recorded rules in one transaction,
with an event. A run whose project folder is gone is read with the rules it was launched
with. Runs that have not ended are refused (their metrics are being read as they run).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from core import config as configuration
from core.engine.ingest import IngestState, Ingestor, latest_values
from core.errors import UsageError
from core.metrics.rules import MetricRules
from core.paths import StorePaths
from core.store import queries as run_queries
from core.store import metric_queries
from core.store.ledger import Ledger


async def reparse(ledger: Ledger, paths: StorePaths, ids: list, env: dict) -> list[dict]:
    """Read each run's metrics anew; what each now has, in the order asked."""
    conn = ledger.conn
    runs = [run_queries.get_run(conn, run_queries.resolve_id(conn, str(i))) for i in ids]
    active = [run.id for run in runs if not run.state.terminal]
    if active:
        raise UsageError(f"run {', '.join(map(str, active))} has not ended: its metrics are "
                         "being read as it runs", hint="reparse it once it has ended "
                         "(tui wait ID)")
    results = []
    for run in runs:
        rules, source = _rules_now(run, run_queries.options(conn, run.id), env)
        run_dir = paths.run_dir(run.id)
        ingestor = Ingestor(run_dir / "output.log", run_dir / "metrics.jsonl", rules,
                            IngestState())
        rows, warnings = await asyncio.to_thread(_read_all, ingestor)
        before = metric_queries.metric_point_count(conn, run.id)
        options = {**run_queries.options(conn, run.id), **rules.to_options()}
        names = sorted({name for name, _step, _value in rows})
        ledger.replace_metrics(run.id, rows, latest_values({}, rows), ingestor.state.to_dict(),
                               options, f"metrics read anew with {source}: {len(rows)} "
                                        f"points read, {before} stored before")
        for warning in warnings:
            ledger.event(run.id, "metrics", warning)
        results.append({"id": run.id, "points": metric_queries.metric_point_count(conn, run.id),
                        "points_before": before, "metrics": names, "rules": source,
                        "warnings": warnings})
    return results


def _rules_now(run, options: dict, env: dict) -> tuple[MetricRules, str]:
    """The `[metrics]` rules a launch from the run's folder would use now, and where from."""
    folder = Path(run.project) / run.workdir
    if not folder.is_dir():
        return MetricRules.from_options(options), \
            f"the rules it was launched with (its folder {folder} is gone)"
    project = configuration.find_project(folder)
    config = configuration.load(project, env)
    files = [str(path) for path in config.files]
    return config.metrics, "the rules of " + (" and ".join(files) if files else "no config file")


def _read_all(ingestor: Ingestor) -> tuple[list, list[str]]:
    rows: list = []
    warnings: list[str] = []
    while True:
        batch = ingestor.poll(final=True)
        rows.extend(batch.rows)
        warnings.extend(batch.warnings)
        if not batch.more:
            return rows, warnings
