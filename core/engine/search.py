"""Adaptive searches in the engine: ask the sampler for trials, tell it how they ended, prune.

Rules (also in the README):
- A search keeps `parallel` trials in flight (queued or running) until `trials` of them
  completed or were pruned; each trial is a run of the search's group, scheduled, retried
  and cached like any other run. A trial's outcome is told when its run ends for good
  (its last attempt): succeeded (or stopped by a --stop-if rule) -> complete, with the
  objective read from its metrics (a trial that reported no value, or NaN, fails);
  stopped by the pruner -> pruned; failed, lost, cancelled -> fail, and another trial is
  asked. `max(5, 2 x parallel)` failed trials in a row end the search `failed`.
- Every decision is written before it is acted on: a trial is recorded with its run in one
  transaction (core.store.search_writes), its outcome before the sampler hears it. A
  restarted engine rebuilds each study from the store (core.engine.study) and tells it
  what ended meanwhile: no trial is asked twice, none is lost.
- Pruning: the points of the objective metric the engine reads from a trial's output are
  reported to the pruner as they arrive; when it says stop, the run is stopped like a stop
  rule (SIGTERM, grace, SIGKILL) and ends `stopped`, cause `pruned`, the step, rung and
  value in its reason.
- `tui search stop` asks no more trials and cancels queued ones (running ones finish and
  count, or are cancelled with --cancel); `tui search extend` adds to the budget and an
  ended search goes on. Runs of later workflow steps wait for the search to end, then get
  its best trial's values (`{best.KEY}`), or fail when it found none.

Optuna is imported (core.engine.study, ~300 ms) only when a search is launched, planned,
or found live in the store: a plain `tui launch` never pays for it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import replace
from typing import Any, Coroutine

from core.engine import launching
from core.engine.launching import Batch, PlannedRun
from core.engine.search_outcomes import Outcomes
from core.errors import StoreError, UnknownRun, UsageError
from core.requests import SearchExtendRequest, SearchStopRequest
from core.spec import search as search_spec
from core.store import queries as run_queries
from core.store import queue_queries
from core.store import search_queries

TYPE_CHECKING = False
if TYPE_CHECKING:
    from core.engine.intake import Intake
    from core.engine.queue_gate import QueueGate
    from core.engine.runner import Runner
    from core.engine.study import Study
    from core.engine.targets import Registry
    from core.paths import StorePaths
    from core.store.ledger import Ledger

log = logging.getLogger("runyard.engine")


def _study_module():
    # lazy: Optuna costs ~300 ms to import; the engine starts on the first `tui` command, so it is
    # imported when a search needs it (tests/bench/bench_search.py measures the start-up).
    from core.engine import study
    return study


def fail_limit(search: search_spec.Search) -> int:
    """Failed trials in a row that end a search: a broken command fails fast, not forever."""
    return max(5, 2 * search.parallel)


class Searches:
    def __init__(self, ledger: Ledger, intake: Intake, runner: Runner, registry: Registry,
                 paths: StorePaths, gate: QueueGate):
        self.ledger = ledger
        self.intake = intake
        self.runner = runner
        self.gate = gate
        self.outcomes = Outcomes(ledger, runner, registry, paths, gate)
        self.studies: dict[int, Study] = {}          # search -> its Study, while live
        self.locks: dict[int, asyncio.Lock] = {}
        self.known: set[int] = set()                  # searches whose trials' ends matter
        self.pruning: set[int] = set()                # live searches with a pruner
        self._trial_of: dict[int, tuple[int, int] | None] = {}   # run id -> (search, number)
        self._attrs: dict[tuple[int, int], dict] = {}            # as last stored
        self._tasks: set[asyncio.Task] = set()

    # ------------------------------------------------------------ engine hooks

    def active(self) -> bool:
        """Whether a search is live (in memory until it ends): the engine is not idle."""
        return bool(self.studies)

    async def resume(self) -> None:
        """After an engine start: rebuild every live search and catch up what ended."""
        for group_id in search_queries.live_searches(self.ledger.conn):
            self.known.add(group_id)
            await self.reconcile(group_id)

    def run_ended(self, run) -> None:
        """A run ended for good (Runner.on_ended): if it is a trial, its search moves on."""
        self._trial_of.pop(run.id, None)
        if run.group_id in self.known:
            self._later(self.reconcile(run.group_id), f"search-{run.group_id}")

    def hurried(self) -> bool:
        """A pruned search is live: its trials are read every 0.1 s, not 0.5 s (ingest)."""
        return bool(self.pruning)

    def urgent(self, run_id: int) -> bool:
        """Whether the run is a trial of a pruned search, still to be judged."""
        found = self._trial(run_id)
        return found is not None and found[0] in self.pruning

    def _trial(self, run_id: int) -> tuple[int, int] | None:
        if run_id not in self._trial_of:
            self._trial_of[run_id] = search_queries.trial_of_run(self.ledger.conn, run_id)
        return self._trial_of[run_id]

    def observe(self, run_id: int, rows: list, judge: bool = True) -> None:
        """New metric points of a run (RunMetrics): a pruned search's trial reports its
        objective's points to the pruner, which may stop it (unless the run has ended:
        `judge` false, the points are only kept)."""
        if not self.pruning:
            return
        found = self._trial(run_id)
        if found is None or found[0] not in self.pruning:
            return
        group_id, number = found
        study = self.studies.get(group_id)
        if study is None:
            return
        metric = study.search.objective.metric
        points = [(step, math.nan if value is None else value)
                  for key, step, value in rows if key == metric]
        if not points:
            return
        try:
            pruned = study.report(number, points, judge)
        except Exception:     # the pruner's bug must not stop the run's metrics or the engine
            log.exception("search %s: trial %s: pruning stopped", group_id, number)
            self.pruning.discard(group_id)
            return
        self._save_attrs(group_id, number, study)
        if pruned is not None:
            self._trial_of[run_id] = None                  # judged: nothing more to report
            try:
                self.ledger.trial_pruned(group_id, number, pruned.step)
            except StoreError as exc:
                log.warning("search %s: trial %s: not pruned: %s", group_id, number,
                            exc.message)
                return
            self.runner.stop(run_id, pruned.reason, cause="pruned")

    def _later(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------ launch and plan

    def check(self, batch: Batch) -> None:
        """Refuse a launch whose sampler this engine cannot run, before anything is kept."""
        for group in batch.groups:
            if group.search is not None:
                _study_module().check_available(group.spec["sampler"])

    async def started(self, group_ids: list[int]) -> list[int]:
        """Searches just recorded: ask their first trials; their run ids."""
        ids: list[int] = []
        for group_id in group_ids:
            self.known.add(group_id)
            ids += await self.reconcile(group_id)
        return ids

    def preview(self, batch: Batch) -> list[PlannedRun]:
        """`--dry-run`: the first trials each search would ask (the same a launch with
        this seed asks first), as planned runs of the batch; nothing is recorded."""
        out = []
        for index, group in enumerate(batch.groups):
            if group.search is None:
                continue
            search = search_spec.Search.from_dict(group.spec)
            study = _study_module().Study(0, search, search.seed)
            for _ in range(search.parallel):
                _number, values, _attrs = study.ask()
                planned = launching.trial_run(group.search, search_spec.text_values(
                    search, values), batch.snapshot_id, batch.project.workdir)
                out.append(replace(planned, group=index, after_local=group.after_local,
                                   after_groups=group.after_groups))
        return out

    # ------------------------------------------------------------ requests

    async def op_stop(self, request: SearchStopRequest) -> dict:
        row = self._row(request.group)
        group_id = row["group"]
        self.known.add(group_id)
        async with self._lock(group_id):
            if row["state"] == "running":
                self.ledger.set_search(group_id, state="stopped",
                                       reason="stopped with tui search stop")
            for run in self._in_flight_runs(group_id):
                if run.state.value == "queued":
                    await self.runner.cancel(run)         # dropped at once, nothing to wait
                elif request.cancel:                       # SIGTERM, grace, SIGKILL: later
                    self._later(self.runner.cancel(run), f"cancel-{run.id}")
        await self.reconcile(group_id)
        return {"groups": run_queries.groups_json(self.ledger.conn, [group_id])}

    async def op_extend(self, request: SearchExtendRequest) -> dict:
        if not 1 <= request.trials <= search_spec.MAX_TRIALS:
            raise UsageError(f"--trials {request.trials}: expected 1 to "
                             f"{search_spec.MAX_TRIALS} more trials",
                             hint="for example: tui search extend G --trials 20")
        row = self._row(request.group)
        group_id = row["group"]
        budget = min(row["budget"] + request.trials, search_spec.MAX_TRIALS)
        self.ledger.set_search(group_id, state="running", budget=budget, fresh_start=True)
        self.known.add(group_id)
        ids = await self.reconcile(group_id)
        return {"runs": run_queries.runs_json_by_id(self.ledger.conn, ids),
                "groups": run_queries.groups_json(self.ledger.conn, [group_id])}

    def _row(self, group_id: int) -> dict:
        row = search_queries.search(self.ledger.conn, group_id)
        if row is None:
            raise UnknownRun(f"no search with group id {group_id}",
                             hint="searches are groups of kind search: tui search list")
        return row

    def _in_flight_runs(self, group_id: int) -> list:
        conn = self.ledger.conn
        roots = {t["run"] for t in search_queries.trials(conn, group_id)
                 if t["state"] == "running"}
        latest = queue_queries.latest_attempts(conn, roots)
        return [run_queries.get_run(conn, latest[r][0]) for r in sorted(roots) if r in latest]

    # ------------------------------------------------------------ the search moving on

    def _lock(self, group_id: int) -> asyncio.Lock:
        return self.locks.setdefault(group_id, asyncio.Lock())

    async def reconcile(self, group_id: int) -> list[int]:
        """Bring the search up to date with its runs: tell the trials that ended, ask new
        ones while the budget allows, end it when it is done. Returns the new runs' ids.
        Idempotent: what was told or asked is in the store, and read from there."""
        async with self._lock(group_id):
            row = search_queries.search(self.ledger.conn, group_id)
            if row is None:
                return []
            search = search_spec.Search.from_dict(row["spec"])
            study = await self._study(group_id, search)
            self._tell_ended(group_id, search, study)
            new: list[int] = []
            row = self._row(group_id)
            if row["state"] == "running" and not self._failed_out(group_id, search):
                new = await self._fill(group_id, row, search, study)
            self._maybe_end(group_id, search)
            if new:
                self.intake.wake()
            return new

    def _failed_out(self, group_id: int, search: search_spec.Search) -> bool:
        """End the search `failed` when its last `fail_limit` trials failed; whether it did."""
        streak = search_queries.fail_streak(self.ledger.conn, group_id)
        if len(streak) < fail_limit(search):
            return False
        self.ledger.set_search(group_id, state="failed", reason=f"{len(streak)} trials in a "
                                                              f"row failed (the last: {streak[0]})")
        return True

    async def _study(self, group_id: int, search: search_spec.Search) -> Study:
        """The search's study: in memory, or rebuilt from the store."""
        if search.pruner is not None:
            self.pruning.add(group_id)
        found = self.studies.get(group_id)
        if found is not None:
            return found
        trials = search_queries.trials(self.ledger.conn, group_id)
        # Intermediate values matter to pruners only (the live study of a search without
        # one is not told them either).
        points = self.outcomes.intermediate_values(search, trials) \
            if search.pruner is not None else {}
        module = await asyncio.to_thread(_study_module)    # the first import: ~300 ms
        study = await asyncio.to_thread(module.Study.rebuild, group_id, search, trials, points)
        self.studies[group_id] = study
        self._attrs.update({(group_id, t["number"]): t["attrs"] for t in trials})
        return study

    def _tell_ended(self, group_id: int, search: search_spec.Search, study: Study) -> None:
        for trial in search_queries.trials(self.ledger.conn, group_id):
            if trial["state"] != "running":
                continue
            outcome = self.outcomes.judge(trial, search.objective)
            if outcome is None:
                continue                                   # still in flight
            state, value, result_run, reason = outcome
            if self.ledger.tell_trial(group_id, trial["number"], state, value, result_run,
                                      reason):
                study.tell(trial["number"], state, value)
                log.info("search %s: trial %s %s%s", group_id, trial["number"], state,
                         f" ({value:.6g})" if value is not None else f" ({reason})")

    async def _fill(self, group_id: int, row: dict, search: search_spec.Search,
                    study: Study) -> list[int]:
        """Ask trials until `parallel` are in flight or the budget is spoken for."""
        template = row["template"]
        snapshot, workdir = template["code"][0], template["code"][2]
        new: list[int] = []
        while True:
            trials = search_queries.trials(self.ledger.conn, group_id)
            in_flight = sum(t["state"] == "running" for t in trials)
            done = sum(t["state"] in ("complete", "pruned") for t in trials)
            if in_flight >= search.parallel or done + in_flight >= row["budget"]:
                return new
            number, values, attrs = await asyncio.to_thread(study.ask)
            texts = search_spec.text_values(search, values)
            planned = launching.trial_run(template, texts, snapshot, workdir)
            cached = None if template.get("force") else self.intake.cache_hit(planned)
            try:
                run_id = self.ledger.insert_trial(group_id, number, values, attrs, planned,
                                                  cached, template)
            except StoreError as exc:
                study.forget(number)
                self.studies.pop(group_id, None)      # rebuilt from the store next time
                log.warning("search %s: trial %s not recorded: %s", group_id, number,
                            exc.message)
                return new
            self._attrs[(group_id, number)] = attrs
            if cached is None:
                new.append(run_id)
            else:                                      # it ran already: told at once
                self._tell_ended(group_id, search, study)
                if self._failed_out(group_id, search):
                    return new

    def _maybe_end(self, group_id: int, search: search_spec.Search) -> None:
        """A running search whose budget is done ends `finished`; an ended search with no
        trial in flight lets the runs that wait for it go on, and leaves memory."""
        conn = self.ledger.conn
        row = self._row(group_id)
        trials = search_queries.trials(conn, group_id)
        in_flight = sum(t["state"] == "running" for t in trials)
        done = sum(t["state"] in ("complete", "pruned") for t in trials)
        if row["state"] == "running" and not in_flight and done >= row["budget"]:
            self.ledger.set_search(group_id, state="finished")
            row = self._row(group_id)
            log.info("search %s finished: %s trials", group_id, done)
        if row["state"] != "running" and not in_flight:
            self.outcomes.release_waiting(group_id, row, search)
            self.studies.pop(group_id, None)
            self.pruning.discard(group_id)

    def _save_attrs(self, group_id: int, number: int, study: Study) -> None:
        attrs = study.attrs(number)
        if attrs != self._attrs.get((group_id, number)):
            self._attrs[(group_id, number)] = attrs
            try:
                self.ledger.trial_attrs(group_id, number, attrs)
            except StoreError as exc:
                log.warning("search %s: trial %s: notes not stored: %s", group_id, number,
                            exc.message)
