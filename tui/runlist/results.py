"""The results table: any param or metric as a column, each metric as last, best, min or max.

Shared by the app's run list, `tui status --columns` and `tui compare`. A column is written
`KEY` or `KEY:SUMMARY` (`lr`, `val_acc`, `loss:min`); by default the columns are the params
whose values differ between the runs and the metrics they share. A metric is better lower
when its name says loss, error and the like (core.spec.stoprules.lower_is_better), higher
otherwise; `[results] better` in the config overrides that per metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

from core.errors import UsageError
from core.spec.stoprules import lower_is_better
from tui import formatting
from tui.runlist.rows import RunRow

SUMMARIES = ("last", "best", "min", "max")
# Counters rather than results: available as columns, never chosen by default.
COUNTERS = frozenset({"step", "epoch", "iter", "iteration", "global_step", "_step"})
COLUMNS_HINT = "columns look like: lr,bs,val_acc,loss:min (SUMMARY: last, best, min, max)"

# {run id: {metric: (min, max)}}, NaN left out (core.store.metric_queries.metric_extremes).
Extremes = dict[int, dict[str, tuple[float | None, float | None]]]


@dataclass(frozen=True)
class ResultColumn:
    kind: str                    # "param" or "metric"
    key: str
    summary: str = "last"        # metrics only: last, best, min or max

    @property
    def name(self) -> str:
        """How the column is written and sorted by: `lr`, `val_acc`, `loss:min`."""
        if self.kind == "param" or self.summary == "last":
            return self.key
        return f"{self.key}:{self.summary}"

    @property
    def is_metric(self) -> bool:
        return self.kind == "metric"


@dataclass(frozen=True)
class Better:
    """Which way each metric is better: by name, unless the config says otherwise."""

    overrides: tuple[tuple[str, str], ...] = ()       # (metric, "lower" or "higher")

    @classmethod
    def from_config(cls, better: dict[str, str] | None) -> "Better":
        return cls(tuple(sorted((better or {}).items())))

    def lower(self, key: str) -> bool:
        for name, word in self.overrides:
            if name == key:
                return word == "lower"
        return lower_is_better(key)


def number(value) -> float | None:
    """A metric value as a float: JSON's "NaN"/"Infinity" strings too; None if not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value == "NaN":
        return math.nan
    if value in ("Infinity", "-Infinity"):
        return math.inf if value == "Infinity" else -math.inf
    return None


def value(row: RunRow, column: ResultColumn, extremes: Extremes | None = None,
          better: Better = Better()):
    """What the cell of `row` holds: a param's value, or a metric's number (None: none)."""
    if column.kind == "param":
        return row.params.get(column.key)
    last = number(row.metrics.get(column.key))
    if column.summary == "last" or last is None:
        return last
    low, high = (extremes or {}).get(row.id, {}).get(column.key, (None, None))
    summary = column.summary
    if summary == "best":
        summary = "min" if better.lower(column.key) else "max"
    found = low if summary == "min" else high
    return last if found is None else found            # only NaN seen: the last, NaN


# ---------------------------------------------------------------- choosing columns

def param_keys(rows: Iterable[RunRow]) -> list[str]:
    return sorted({k for row in rows for k in row.params})


def metric_keys(rows: Iterable[RunRow]) -> list[str]:
    return sorted({k for row in rows for k in row.metrics})


def default_columns(rows: list[RunRow]) -> list[ResultColumn]:
    """The params that differ between the runs, those that tell most runs apart first (so
    a narrow pane, dropping columns from the right, keeps them), then the metrics the runs
    share."""
    params = formatting.varying_params([r.params for r in rows]) if len(rows) > 1 else []
    missing = object()
    distinct = {k: len({repr(r.params.get(k, missing)) for r in rows}) for k in params}
    params.sort(key=lambda k: (-distinct[k], k))
    return [ResultColumn("param", k) for k in params] + \
        [ResultColumn("metric", k) for k in shared_metrics(rows)]


def shared_metrics(rows: list[RunRow]) -> list[str]:
    """Metrics every run with metrics has (counters such as `step` left out); when they
    share none, those of at least half of them."""
    with_metrics = [r for r in rows if r.metrics]
    if not with_metrics:
        return []
    counts: dict[str, int] = {}
    for row in with_metrics:
        for key in row.metrics:
            if key.lower() not in COUNTERS:
                counts[key] = counts.get(key, 0) + 1
    shared = [k for k, n in counts.items() if n == len(with_metrics)]
    if not shared:
        shared = [k for k, n in counts.items() if 2 * n >= len(with_metrics)]
    return sorted(shared)


def parse_columns(texts: list[str], rows: list[RunRow]) -> list[ResultColumn]:
    """Columns from `--columns` words (comma-separated, repeatable). `+KEY` adds to the
    default columns and `-KEY` takes one away; a plain KEY list replaces them."""
    items = [item.strip() for text in texts for item in text.split(",") if item.strip()]
    if not items:
        return default_columns(rows)
    params, metrics = set(param_keys(rows)), set(metric_keys(rows))
    relative = all(item[0] in "+-" for item in items)
    chosen = default_columns(rows) if relative else []
    for item in items:
        sign = item[0] if item[0] in "+-" else "+"
        column = _column(item.lstrip("+-"), params, metrics)
        chosen = [c for c in chosen if c.name != column.name]
        if sign == "+":
            chosen.append(column)
    return chosen


def column_named(text: str, rows: list[RunRow]) -> ResultColumn:
    return _column(text, set(param_keys(rows)), set(metric_keys(rows)))


def _column(text: str, params: set[str], metrics: set[str]) -> ResultColumn:
    key, sep, summary = text.rpartition(":")
    if not sep or summary not in SUMMARIES:
        key, summary = text, ""
    if summary:
        if key in metrics:
            return ResultColumn("metric", key, summary)
    elif key in params:
        return ResultColumn("param", key)
    elif key in metrics:
        return ResultColumn("metric", key)
    known = [*sorted(params), *sorted(metrics)]
    shown = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
    what = f"{key!r} is not a metric of these runs" if summary else \
        f"no param or metric named {key!r}"
    raise UsageError(f"column {text!r}: {what}",
                     hint=(f"these runs have: {shown}; " if known else "these runs have no "
                           "params or metrics yet; ") + COLUMNS_HINT)


# ---------------------------------------------------------------- best values and order

def best_ids(rows: list[RunRow], columns: list[ResultColumn], cells: "Cells") -> dict[str, set]:
    """The runs holding the best value of each metric column (ties: all of them)."""
    out: dict[str, set] = {}
    for column in columns:
        if not column.is_metric:
            continue
        lower = cells.better.lower(column.key)
        best, ids = None, set()
        for row in rows:
            v = cells(row, column)
            if v is None or not _finite(v):
                continue
            if best is None or (v < best if lower else v > best):
                best, ids = v, {row.id}
            elif v == best:
                ids.add(row.id)
        if ids:
            out[column.name] = ids
    return out


class Cells:
    """The value of any cell, with the extremes and directions it needs at hand."""

    def __init__(self, extremes: Extremes | None = None, better: Better = Better()):
        self.extremes = extremes or {}
        self.better = better

    def __call__(self, row: RunRow, column: ResultColumn):
        return value(row, column, self.extremes, self.better)

    def best_first(self, column: ResultColumn) -> bool:
        """Whether ranking by this column puts the highest values first."""
        return column.is_metric and not self.better.lower(column.key)


def rank_key(value_of: Callable, descending: bool,
             tiebreak: Callable = lambda row: row.id) -> Callable:
    """A sort key with numbers in order (highest first if `descending`), then text, then
    NaN and missing values last either way; ties broken by `tiebreak` (the run id)."""
    def key(item) -> tuple:
        v = value_of(item)
        if v is None:
            return (3, 0, "", tiebreak(item))
        if isinstance(v, bool):
            return (1, 0, str(v), tiebreak(item))
        if isinstance(v, (int, float)):
            if not _finite(v):               # NaN or a diverged ±inf: never ranked best
                return (2, 0, "", tiebreak(item))
            return (0, -v if descending else v, "", tiebreak(item))
        return (1, 0, str(v), tiebreak(item))
    return key


def _finite(v) -> bool:
    return not isinstance(v, float) or math.isfinite(v)


def needs_extremes(columns: list[ResultColumn]) -> list[str]:
    """The metrics whose min or max a set of columns shows (read from the store)."""
    return sorted({c.key for c in columns if c.is_metric and c.summary != "last"})


# ---------------------------------------------------------------- cell text

def cell_text(v) -> str:
    """A cell as text: numbers short (`0.9123`, `1.235e+04`), booleans as true/false."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return formatting.number(v)
    return str(v)


def all_numbers(values: Iterable) -> bool:
    """Whether every present value is a number (such a column aligns on the decimal point)."""
    seen = False
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        seen = True
    return seen
