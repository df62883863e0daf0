"""One search's Optuna study: samplers, pruners, ask/tell, and rebuilding it from the store.

Optuna does the sampling and pruning (its ask/tell API): TPE, random, CMA-ES and GP
samplers; the median, successive halving (ASHA) and Hyperband pruners. The study lives
in memory; what makes it is in the store (core.store.search_queries): each trial's values,
how it ended as told, its intermediate values (the objective metric's points, which the
engine reads from the run's output), and Optuna's own notes on it (system attrs: the rungs
a trial reached, a sampler's state). `Study.rebuild` makes the same study again from those,
so a restarted engine goes on where the last one stopped.

This module imports Optuna (~300 ms): only the engine imports it, and only when a search
runs (core.engine.search imports it on first use).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import warnings
from dataclasses import dataclass

import optuna
from optuna.distributions import (BaseDistribution, CategoricalDistribution,
                                  FloatDistribution, IntDistribution)
from optuna.trial import Trial, TrialState, create_trial

from core.errors import UsageError
from core.spec.search import Dimension, Search

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
logging.getLogger("optuna").propagate = False

STATES = {"running": TrialState.RUNNING, "complete": TrialState.COMPLETE,
          "pruned": TrialState.PRUNED, "fail": TrialState.FAIL}
MAX_PRUNE_CHECKS = 200          # per batch of new points; the rest are reported only
_FLOAT_MARK = "float:"          # a non-finite float in stored attrs (JSON has none)


@dataclass(frozen=True)
class Pruned:
    """A pruner's decision to stop a trial: the step and value it judged, and why."""

    step: int
    value: float
    reason: str


def check_available(sampler: str) -> None:
    """Refuse a sampler whose libraries this engine lacks (GP needs PyTorch and SciPy)."""
    if sampler == "gp" and not all(importlib.util.find_spec(name) for name in
                                   ("torch", "scipy")):
        raise UsageError("--search gp needs PyTorch and SciPy where the engine runs; they "
                         "are not installed", hint="use --search tpe (or random, cmaes), or "
                                                   "pip install torch scipy into runyard's env")


def distribution(dimension: Dimension) -> BaseDistribution:
    if dimension.type == "float":
        return FloatDistribution(dimension.low, dimension.high, log=dimension.log)
    if dimension.type == "int":
        return IntDistribution(int(dimension.low), int(dimension.high), step=dimension.step)
    return CategoricalDistribution(dimension.choices)


def _sampler(search: Search, seed: int) -> optuna.samplers.BaseSampler:
    check_available(search.sampler)
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if search.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    # Trials in flight count as if they had the worst value seen (the "constant liar"), so
    # parallel trials are not all sent to the same promising spot.
    return optuna.samplers.TPESampler(seed=seed, constant_liar=search.parallel > 1)


def _pruner(search: Search) -> optuna.pruners.BasePruner:
    if search.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if search.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner()
    if search.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def _stored_attrs(attrs: dict) -> dict:
    """Optuna's system attrs as JSON can keep them (a non-finite float marked as text)."""
    def safe(value):
        if isinstance(value, float) and not math.isfinite(value):
            return _FLOAT_MARK + repr(value)
        if isinstance(value, (list, tuple)):
            return [safe(v) for v in value]
        if isinstance(value, dict):
            return {k: safe(v) for k, v in value.items()}
        return value
    return {key: safe(value) for key, value in attrs.items()}


def _loaded_attrs(attrs: dict) -> dict:
    def back(value):
        if isinstance(value, str) and value.startswith(_FLOAT_MARK):
            return float(value[len(_FLOAT_MARK):])
        if isinstance(value, list):
            return [back(v) for v in value]
        if isinstance(value, dict):
            return {k: back(v) for k, v in value.items()}
        return value
    return {key: back(value) for key, value in attrs.items()}


class Study:
    """A search's study: ask for trials, report their points, tell how they ended."""

    def __init__(self, group_id: int, search: Search, seed: int):
        self.search = search
        self.distributions = {d.key: distribution(d) for d in search.space}
        self.study = optuna.create_study(
            study_name=f"search-{group_id}", sampler=_sampler(search, seed),
            pruner=_pruner(search),
            direction="minimize" if search.objective.minimize else "maximize")
        self.live: dict[int, Trial] = {}          # trials in flight, by number
        self.reported: dict[int, int] = {}        # the last step reported, by number

    @classmethod
    def rebuild(cls, group_id: int, search: Search, trials: list[dict],
                points: dict[int, list[tuple[int, float]]]) -> "Study":
        """The study again from the store: `trials` as search_queries.trials gives them,
        `points` their intermediate values by trial number. The sampler is seeded anew
        (its seed plus the trials so far), so it does not propose the first trials again."""
        study = cls(group_id, search, (search.seed + len(trials)) % 2**32)
        for trial in trials:
            study._add(trial, points.get(trial["number"], []))
        return study

    def _add(self, stored: dict, points: list[tuple[int, float]]) -> None:
        state = STATES[stored["state"]]
        values = {key: value for key, value in stored["params"].items()
                  if key in self.distributions}
        intermediate = {step: value for step, value in points} if state != TrialState.FAIL \
            else {}
        value = stored["value"] if state in (TrialState.COMPLETE, TrialState.PRUNED) else None
        frozen = create_trial(state=state, value=value, params=values,
                              distributions={k: self.distributions[k] for k in values},
                              intermediate_values=intermediate,
                              system_attrs=_loaded_attrs(stored["attrs"]))
        self.study.add_trial(frozen)
        number = len(self.study.get_trials(deepcopy=False)) - 1
        if number != stored["number"]:
            raise RuntimeError(f"trial {stored['number']} rebuilt as number {number}")
        if state == TrialState.RUNNING:
            trial_id = self.study.get_trials(deepcopy=False)[number]._trial_id
            self.live[number] = Trial(self.study, trial_id)
            if intermediate:
                self.reported[number] = max(intermediate)

    @property
    def next_number(self) -> int:
        return len(self.study.get_trials(deepcopy=False))

    def ask(self) -> tuple[int, dict, dict]:
        """A new trial: its number, its values (typed) and Optuna's notes on it."""
        trial = self.study.ask(self.distributions)
        self.live[trial.number] = trial
        return trial.number, dict(trial.params), self.attrs(trial.number)

    def forget(self, number: int) -> None:
        """A trial asked but not recorded (the store refused it): it never happened."""
        self.live.pop(number, None)

    def attrs(self, number: int) -> dict:
        trial = self.study.get_trials(deepcopy=False)[number]
        return _stored_attrs(dict(trial.system_attrs))

    def tell(self, number: int, state: str, value: float | None = None) -> None:
        """How a trial ended: complete (with its objective), pruned or fail."""
        self.live.pop(number, None)
        self.reported.pop(number, None)
        if state == "complete":
            self.study.tell(number, value, skip_if_finished=True)
        else:
            self.study.tell(number, state=STATES[state], skip_if_finished=True)

    def report(self, number: int, points: list[tuple[int, float]],
               judge: bool = True) -> Pruned | None:
        """Report a running trial's new points (step, value), each step once; with `judge`,
        the pruner's decision, if it says stop (the points after it are not reported)."""
        trial = self.live.get(number)
        if trial is None:
            return None
        last = self.reported.get(number, -1)
        latest: dict[int, float] = {}
        for step, value in points:
            if step > last:
                latest[step] = value                # a redraw of a step: its last value
        checks = 0
        for step in sorted(latest):
            value = latest[step]
            trial.report(value, step)
            self.reported[number] = step
            if judge and self.search.pruner is not None and \
                    (checks < MAX_PRUNE_CHECKS or step == max(latest)):
                checks += 1
                if trial.should_prune():
                    return Pruned(step, value, self._why(number, step, value))
        return None

    def _why(self, number: int, step: int, value: float) -> str:
        metric = self.search.objective.metric
        shown = f"{metric}={value:.6g}"
        if self.search.pruner == "median":
            return (f"pruned at step {step} (median pruner): {shown}, worse than the median "
                    "of earlier trials at that step")
        attrs = self.study.get_trials(deepcopy=False)[number].system_attrs
        rung = max(0, sum(1 for key in attrs if key.startswith("completed_rung_")) - 1)
        return f"pruned at step {step}, rung {rung} ({self.search.pruner}): {shown}"

