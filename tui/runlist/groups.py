"""What a sweep's group row says: runs by state, its worst active state, the best value,
and each configuration's mean ± sd over seeds when a `seed` param varies."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from core.models import RunState
from tui.formatting import STATE_GLYPHS
from tui.formatting import number as short_number
from tui.runlist.results import Cells, ResultColumn, rank_key
from tui.runlist.rows import RunRow

# A folded group shows the first of these that any member is in: running if any runs.
WORST_FIRST = (RunState.RUNNING, RunState.QUEUED, RunState.FAILED, RunState.LOST,
               RunState.STOPPED, RunState.CANCELLED, RunState.SUCCEEDED)


def group_state(rows: list[RunRow]) -> RunState:
    states = {row.state for row in rows}
    return next((s for s in WORST_FIRST if s in states), RunState.SUCCEEDED)


def state_counts(rows: list[RunRow]) -> dict[RunState, int]:
    counts: dict[RunState, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    return {s: counts[s] for s in WORST_FIRST if s in counts}


def seed_param(rows: list[RunRow]) -> str | None:
    """The param that numbers repeats of one configuration (`seed`, `data_seed`), when it
    takes more than one value among the runs."""
    for key in sorted({k for row in rows for k in row.params}):
        lowered = key.lower()
        if lowered == "seed" or lowered.endswith("_seed") or lowered.endswith("-seed"):
            if len({repr(row.params.get(key)) for row in rows}) > 1:
                return key
    return None


@dataclass(frozen=True)
class Spread:
    mean: float | None
    sd: float | None             # None with fewer than two values
    n: int

    def text(self) -> str:
        if self.mean is None:
            return "-"
        if self.sd is None:
            return short_number(self.mean)
        return mean_sd_text(self.mean, self.sd)


def mean_sd_text(mean: float, sd: float) -> str:
    """`0.235 ± 0.021`: the spread to two significant digits, the mean to the same place."""
    if sd == 0 or sd != sd or not math.isfinite(mean):
        return f"{short_number(mean)} ± {short_number(sd)}"
    places = max(0, 1 - math.floor(math.log10(abs(sd))))
    if places > 8 or abs(mean) >= 1e6:
        return f"{short_number(mean)} ± {sd:.2g}"
    return f"{mean:.{places}f} ± {sd:.{places}f}"


@dataclass(frozen=True)
class SeedGroup:
    """One configuration (the params but the seed) and its runs over seeds."""

    params: dict
    run_ids: tuple[int, ...]
    spreads: dict[str, Spread]         # column name -> mean ± sd over the runs


def spread(values: list[float]) -> Spread:
    values = [v for v in values if v is not None and v == v]
    if not values:
        return Spread(None, None, 0)
    sd = statistics.stdev(values) if len(values) > 1 else None
    return Spread(statistics.fmean(values), sd, len(values))


def over_seeds(rows: list[RunRow], columns: list[ResultColumn], cells: Cells,
               seed: str, rank: ResultColumn | None = None) -> list[SeedGroup]:
    """The runs grouped by every param but the seed, with mean ± sd of each metric column;
    best first by `rank` (a metric column), else in the order of the runs."""
    configs: dict[str, list[RunRow]] = {}
    for row in rows:
        rest = {k: v for k, v in sorted(row.params.items()) if k != seed}
        configs.setdefault(repr(rest), []).append(row)
    groups = []
    for members in configs.values():
        spreads = {c.name: spread([cells(r, c) for r in members]) for c in columns if c.is_metric}
        params = {k: v for k, v in sorted(members[0].params.items()) if k != seed}
        groups.append(SeedGroup(params, tuple(r.id for r in members), spreads))
    if rank is not None and rank.is_metric:
        groups.sort(key=rank_key(lambda g: g.spreads[rank.name].mean, cells.best_first(rank),
                                 tiebreak=lambda g: g.run_ids[0]))
    return groups


@dataclass(frozen=True)
class GroupSummary:
    size: int
    counts: dict[RunState, int]
    state: RunState
    best: tuple[object, int] | None            # (value, run id) of the rank column
    seed: str | None
    seeds: list[SeedGroup]

    def counts_text(self) -> str:
        return " ".join(f"{STATE_GLYPHS[s.value]}{n}" for s, n in self.counts.items())


def summarize(rows: list[RunRow], rank: ResultColumn | None, cells: Cells,
              columns: Sequence[ResultColumn] = ()) -> GroupSummary:
    """A group's row: its size, runs by state, worst active state and, for a metric column
    `rank`, the best value and (when a seed varies) each configuration's mean ± sd."""
    best = None
    if rank is not None and rank.is_metric:
        key = rank_key(lambda r: cells(r, rank), cells.best_first(rank))
        ranked = sorted(rows, key=key)
        top = cells(ranked[0], rank) if ranked else None
        if top is not None and top == top:
            best = (top, ranked[0].id)
    seed = seed_param(rows)
    seeds = over_seeds(rows, list(columns) or ([rank] if rank else []), cells, seed, rank) \
        if seed and rank is not None else []
    return GroupSummary(len(rows), state_counts(rows), group_state(rows), best, seed, seeds)
