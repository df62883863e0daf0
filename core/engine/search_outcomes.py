"""What a search reads from its trials' runs: how each ended, its intermediate values, and
what the runs waiting for the search get when it ends (its best trial's values)."""

from __future__ import annotations

import logging
import math

from core.engine import launching
from core.executors.base import Exit
from core.models import RunState
from core.spec import search as search_spec
from core.store import queries as run_queries
from core.store import metric_queries
from core.store import queue_queries
from core.store import search_queries

log = logging.getLogger("runyard.engine")

# How a trial's last attempt ended -> what the sampler is told.
COMPLETE_STATES = (RunState.SUCCEEDED,)


class Outcomes:
    def __init__(self, ledger, runner, registry, paths, gate):
        self.ledger = ledger
        self.runner = runner
        self.registry = registry
        self.paths = paths
        self.gate = gate

    def _last_attempt(self, run_id: int):
        """The trial's run as it ended, or is now: the last attempt of its retries."""
        latest = queue_queries.latest_attempts(self.ledger.conn, {run_id})
        if run_id not in latest:
            return None
        return run_queries.get_run(self.ledger.conn, latest[run_id][0])

    def judge(self, trial: dict, objective: search_spec.Objective):
        """(state, value, result run, reason) to tell of a trial whose run ended for good;
        None while it is in flight. Succeeded, or stopped by a --stop-if rule: complete with
        its objective (no value or NaN: fail); stopped by the pruner: pruned with its last
        value; failed, lost or cancelled: fail."""
        run = self._last_attempt(trial["run"])
        if run is None:
            return "fail", None, None, f"run {trial['run']} is gone"
        if not run.state.terminal:
            return None
        points = self._points(run.id, objective.metric)
        values = [value for _step, value in points]
        if run.state is RunState.STOPPED and run.cause == "pruned":
            judged = [value for step, value in points
                      if trial["pruned_step"] is None or step <= trial["pruned_step"]]
            return "pruned", judged[-1] if judged else None, run.id, run.reason
        if run.state in COMPLETE_STATES or (run.state is RunState.STOPPED and
                                            run.cause == "stop_rule"):
            value = objective.value(values)
            if value is None:
                return "fail", None, run.id, f"run {run.id} reported no {objective.metric}"
            if not math.isfinite(value):
                return "fail", None, run.id, f"run {run.id}: {objective.metric} is {value}"
            return "complete", value, run.id, None
        why = f"run {run.id} {run.state.value}" + (f": {run.reason}" if run.reason else "")
        return "fail", None, run.id, why

    def _points(self, run_id: int, metric: str) -> list[tuple[int, float]]:
        series = metric_queries.metric_series(self.ledger.conn, run_id, [metric])
        return [(step, value) for step, value in series.get(metric, [])]

    def intermediate_values(self, search: search_spec.Search,
                            trials: list[dict]) -> dict[int, list[tuple[int, float]]]:
        """Each trial's objective points by step (what was reported to the pruner): from
        the attempt that ended it, or the one running now; a pruned trial's up to the step
        it was judged at."""
        runs: dict[int, int] = {}
        for trial in trials:
            if trial["state"] == "fail":
                continue
            if trial["result_run"] is not None:
                runs[trial["number"]] = trial["result_run"]
            else:
                latest = queue_queries.latest_attempts(self.ledger.conn, {trial["run"]})
                if trial["run"] in latest:
                    runs[trial["number"]] = latest[trial["run"]][0]
        series = metric_queries.metric_series_of_runs(self.ledger.conn, set(runs.values()),
                                                   search.objective.metric)
        limit = {t["number"]: t["pruned_step"] for t in trials
                 if t["state"] == "pruned" and t["pruned_step"] is not None}
        return {number: [(step, value) for step, value in series.get(run_id, [])
                         if number not in limit or step <= limit[number]]
                for number, run_id in runs.items()}

    def release_waiting(self, group_id: int, row: dict, search: search_spec.Search) -> None:
        """The search has ended: runs of later steps waiting for it get its best trial's
        values, or fail (cause `dependency`) when it failed or completed no trial."""
        conn = self.ledger.conn
        waiting = search_queries.waiting_for(conn, group_id)
        if not waiting:
            return
        best = search_queries.best_trial(conn, group_id, search.objective.minimize)
        if best is None or row["state"] == "failed":
            why = row["reason"] if row["state"] == "failed" else "it completed no trial"
            for run_id in waiting:
                self.runner.finish(run_id, Exit(exit_code=None, reason=f"dependency failed: "
                                                f"search {group_id} ended: {why}"),
                                   cause="dependency")
            return
        texts = {key: search.dimension(key).text(value) for key, value in best["params"].items()
                 if key in search.keys}
        env = {"RUNYARD_BEST_RUN_ID": str(best["run"]),
               "RUNYARD_BEST_RUN_DIR": str(self.paths.run_dir(best["run"]))}
        shown = " ".join(f"{k}={v}" for k, v in texts.items())
        for run_id in waiting:
            run = run_queries.get_run(conn, run_id)
            config = self.registry.configs.get(run.spec.target)
            kind = config.kind if config is not None else "local"
            command, params, key = launching.after_search_run(run, texts, env, run.snapshot,
                                                              kind)
            self.ledger.resolve_after_search(
                run_id, command=command, params=params, env={**run.spec.env, **env},
                depends=sorted({*run.spec.policy.after, best["run"]}), spec_key=key,
                message=f"search {group_id} ended: best trial {best['trial']} (run "
                        f"{best['run']}, {search.objective.metric}={best['value']:.6g}): "
                        f"{shown}")
        self.gate.forget(waiting)
        log.info("search %s: %d waiting runs go on with trial %s", group_id, len(waiting),
                 best["trial"])
