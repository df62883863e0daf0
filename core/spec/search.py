"""Adaptive searches (`--search`): the space, sampler, pruner, objective and budget of one.

The space is the `--sweep` axes (`[sweep]` in a workflow file), read as dimensions:
`log(A, B)` and `uniform(A, B)` are floats, `int(A, B)` and `range(START, STOP[, STEP])`
integers (no size limit here: a sampler draws from them), a list is a choice among its
values (kept as text). The objective is `METRIC[:min|max][:SUMMARY]`: the metric as the
engine reads it from the run's output, which way is better (default: `[results] better`,
else lower for loss-like names), and the value a trial is judged by: `last` (its final
value, the default), `best` (the best value over the run) or `meanN` (the mean of its last
N values). Nothing here samples: the engine's driver (core.engine.search) does, with
Optuna; this module is the language a launch is written in, and what the store keeps.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from core.errors import UsageError
from core.spec import sweeps
from core.spec.params import as_text
from core.spec.stoprules import lower_is_better

SAMPLERS = ("tpe", "random", "cmaes", "gp")
PRUNERS = ("median", "asha", "hyperband")
MAX_TRIALS = 10_000
SAMPLER_HINT = ("samplers: tpe (Bayesian, the default choice), random, cmaes (continuous "
                "spaces), gp (needs PyTorch and SciPy where the engine runs)")
PRUNER_HINT = "pruners: median, asha (successive halving), hyperband"
OBJECTIVE_HINT = ("the objective looks like val_loss, val_loss:min, val_acc:max:best or "
                  "loss:min:mean5 (the mean of the last 5 values)")
# `{best.lr}` in a later step's command: the best trial's value of a searched param.
BEST_PLACEHOLDER = re.compile(r"\{best\.([A-Za-z_][A-Za-z0-9_.\-]*)\}")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")            # a metric
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")            # a param, as sweeps take it
_MEAN = re.compile(r"^mean(\d+)$")


@dataclass(frozen=True)
class Dimension:
    """One searched param: a float range, an integer range or a choice among values."""

    key: str
    spec: str                       # as the user wrote it (recorded with the group)
    type: str                       # "float", "int" or "choice"
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: int = 1                   # int: the spacing of the values
    choices: tuple[str, ...] = ()

    def text(self, value) -> str:
        """How a sampled value goes into the command: a float exactly (its shortest
        round-trip form, so the run gets what the sampler chose), an int, a choice as given."""
        if self.type == "float":
            return repr(float(value))
        if self.type == "int":
            return str(int(value))
        return str(value)

    def value(self, text: str):
        """The typed value back from the text a run was given (the inverse of `text`)."""
        if self.type == "float":
            return float(text)
        if self.type == "int":
            return int(text)
        return text

    def contains(self, value) -> bool:
        if self.type == "choice":
            return value in self.choices
        number = float(value)
        inside = self.low <= number <= self.high
        if self.type == "int":
            return inside and (int(number) - int(self.low)) % self.step == 0
        return inside


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str = "min"          # "min" or "max"
    summary: str = "last"           # "last", "best" or "mean"
    window: int = 1                 # mean: over this many last values

    @property
    def text(self) -> str:
        summary = f"mean{self.window}" if self.summary == "mean" else self.summary
        return f"{self.metric}:{self.direction}" + (f":{summary}" if summary != "last" else "")

    @property
    def minimize(self) -> bool:
        return self.direction == "min"

    def better(self, a: float, b: float) -> bool:
        return a < b if self.minimize else a > b

    def value(self, values: list[float]) -> float | None:
        """A trial's objective from its metric's values in step order (NaN kept, so a run
        that ended on NaN is judged NaN); None when it reported none."""
        if not values:
            return None
        if self.summary == "best":
            finite = [v for v in values if not math.isnan(v)]
            if not finite:
                return math.nan
            return min(finite) if self.minimize else max(finite)
        if self.summary == "mean":
            tail = values[-self.window:]
            return math.fsum(tail) / len(tail)
        return values[-1]

    def to_dict(self) -> dict:
        return {"metric": self.metric, "direction": self.direction,
                "summary": f"mean{self.window}" if self.summary == "mean" else self.summary}

    @classmethod
    def from_dict(cls, data: dict) -> "Objective":
        return parse_objective(f"{data['metric']}:{data['direction']}:{data['summary']}")


@dataclass(frozen=True)
class Search:
    """A search as launched: recorded with its group (`spec`), read back the same."""

    space: tuple[Dimension, ...]
    sampler: str
    objective: Objective
    trials: int                     # the budget: completed and pruned trials
    parallel: int                   # trials in flight at once
    pruner: str | None
    seed: int

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.space]

    def dimension(self, key: str) -> Dimension:
        return next(d for d in self.space if d.key == key)

    def to_dict(self) -> dict:
        return {"space": {d.key: d.spec for d in self.space}, "keys": self.keys,
                "sampler": self.sampler, "pruner": self.pruner,
                "objective": self.objective.to_dict(), "seed": self.seed,
                "trials": self.trials, "parallel": self.parallel}

    @classmethod
    def from_dict(cls, spec: dict) -> "Search":
        space = tuple(parse_dimension(f"{key}={text}", "stored search")
                      for key, text in spec["space"].items())
        return cls(space, spec["sampler"], Objective.from_dict(spec["objective"]),
                   spec["trials"], spec["parallel"], spec["pruner"], spec["seed"])


# ---------------------------------------------------------------- parsing

def parse_dimension(text: str, where: str = "--sweep") -> Dimension:
    """`KEY=SPEC` as a searched param (see the module docstring)."""
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise UsageError(f"{where} {text!r}: expected KEY=VALUES", hint=sweeps.HINT)
    return dimension_from_spec(key, spec, where)


def dimension_from_spec(key: str, spec: str, where: str) -> Dimension:
    if not _PARAM.match(key):
        raise UsageError(f"{where} {key!r}: not a param name",
                         hint="param names are letters, digits, _ . - (lr, batch_size)")
    function = sweeps.split_function(spec)
    if function is not None and function[0] in ("int", "range"):
        return _integers(key, spec, function, where)
    axis = sweeps.axis_from_spec(key, spec, where)
    if axis.discrete:
        return Dimension(key, spec, "choice", choices=axis.values)
    return Dimension(key, spec, "float", low=axis.low, high=axis.high, log=axis.log)


def dimension_from_toml(key: str, value, where: str) -> Dimension:
    """A dimension from a workflow file: a list of values, or a string as for --sweep."""
    if isinstance(value, str) and value.strip():
        return dimension_from_spec(key, value.strip(), where)
    if not _PARAM.match(key):
        raise UsageError(f"{where} {key!r}: not a param name",
                         hint="param names are letters, digits, _ . - (lr, batch_size)")
    axis = sweeps.axis_from_toml(key, value, where)
    return Dimension(key, axis.spec, "choice", choices=axis.values)


def _integers(key: str, spec: str, function: tuple[str, list[str]], where: str) -> Dimension:
    name, parts = function
    numbers = [sweeps.number(part, key, spec, where) for part in parts]
    if not all(n.is_integer() for n in numbers):
        raise UsageError(f"{where} {key}={spec}: {name}() takes integers", hint=sweeps.HINT)
    ints = [int(n) for n in numbers]
    if name == "int":
        if len(ints) != 2 or not ints[0] < ints[1]:
            raise UsageError(f"{where} {key}={spec}: int(A, B) needs A < B", hint=sweeps.HINT)
        return Dimension(key, spec, "int", low=ints[0], high=ints[1])
    if not 1 <= len(ints) <= 3 or (len(ints) == 3 and ints[2] == 0):
        raise UsageError(f"{where} {key}={spec}: range(START, STOP[, STEP])", hint=sweeps.HINT)
    values = range(*ints) if len(ints) > 1 else range(ints[0])
    if not values:
        raise UsageError(f"{where} {key}={spec}: gives no values", hint=sweeps.HINT)
    low, high, step = min(values[0], values[-1]), max(values[0], values[-1]), abs(values.step)
    return Dimension(key, spec, "int", low=low, high=high, step=step)


def parse_objective(text: str, better: dict[str, str] | None = None) -> Objective:
    """`val_loss`, `val_loss:min`, `val_acc:max:best`, `loss:min:mean5`."""
    parts = [p.strip() for p in text.split(":")]
    metric = parts[0]
    if not metric or not _KEY.match(metric) or len(parts) > 3:
        raise UsageError(f"--objective {text!r}: not an objective", hint=OBJECTIVE_HINT)
    direction, summary = None, "last"
    for part in parts[1:]:
        if part in ("min", "max") and direction is None:
            direction = part
        elif part in ("last", "best") or _MEAN.match(part):
            summary = part
        else:
            raise UsageError(f"--objective {text!r}: {part!r} is neither min/max nor last, "
                             "best or meanN", hint=OBJECTIVE_HINT)
    if direction is None:
        said = (better or {}).get(metric)
        lower = said == "lower" if said else lower_is_better(metric)
        direction = "min" if lower else "max"
    window = 1
    if (mean := _MEAN.match(summary)) is not None:
        window = int(mean.group(1))
        if not 1 <= window <= 100_000:
            raise UsageError(f"--objective {text!r}: meanN needs N from 1 to 100000",
                             hint=OBJECTIVE_HINT)
        summary = "mean"
    return Objective(metric, direction, summary, window)


def build(space: list[Dimension], sampler: str, objective: str | None, trials: int | None,
          parallel: int | None, pruner: str | None, seed: int | None,
          better: dict[str, str] | None = None) -> Search:
    """A search from what a launch gave; every mistake is refused with a hint."""
    if sampler not in SAMPLERS:
        raise UsageError(f"--search {sampler!r}: not a sampler", hint=SAMPLER_HINT)
    if not space:
        raise UsageError("--search needs a space: the params to search, as --sweep KEY=SPEC",
                         hint="for example --sweep lr='log(1e-4,1e-1)' --sweep layers='int(2,8)'")
    keys = [d.key for d in space]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise UsageError(f"--sweep {dup}: the same param is searched twice",
                         hint="give each param one --sweep")
    if objective is None:
        raise UsageError("--search needs --objective METRIC[:min|max]: the metric a trial "
                         "is judged by", hint=OBJECTIVE_HINT)
    if trials is None:
        raise UsageError("--search needs --trials N: how many trials to complete",
                         hint="for example --trials 40 (pruned trials count, failed ones not)")
    if not 1 <= trials <= MAX_TRIALS:
        raise UsageError(f"--trials {trials}: expected 1 to {MAX_TRIALS}",
                         hint="how many trials to complete, e.g. --trials 40")
    parallel = 1 if parallel is None else parallel
    if not 1 <= parallel <= MAX_TRIALS:
        raise UsageError(f"--parallel {parallel}: expected 1 to {MAX_TRIALS}",
                         hint="how many trials in flight at once, e.g. --parallel 4")
    if pruner is not None and pruner not in PRUNERS:
        raise UsageError(f"--prune {pruner!r}: not a pruner", hint=PRUNER_HINT)
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    elif not 0 <= seed < 2**32:
        raise UsageError(f"--seed {seed}: expected 0 to 2**32 - 1",
                         hint="leave it out for a random seed (recorded with the search)")
    return Search(tuple(space), sampler, parse_objective(objective, better), trials,
                  min(parallel, trials), pruner, seed)


def text_values(search: Search, values: dict) -> dict[str, str]:
    """A trial's sampled values as the text its command gets."""
    return {d.key: d.text(values[d.key]) for d in search.space}


# ---------------------------------------------------------------- after a search

def best_placeholders(words: list[str]) -> set[str]:
    """The searched params a later step names as `{best.KEY}`."""
    return {name for word in words for name in BEST_PLACEHOLDER.findall(word)}


def fill_best(words: list[str], values: dict) -> list[str]:
    """`{best.KEY}` filled with the best trial's values (as text)."""
    return [BEST_PLACEHOLDER.sub(lambda m: as_text(values[m.group(1)]), word)
            for word in words]
