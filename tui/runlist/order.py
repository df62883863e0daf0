"""Ordering the run list: sort by any column, and group runs that belong together.

A sort is a column and a direction. The fixed columns (SORTS) sort as text or numbers; a
results column (a param or a metric, tui.runlist.results) sorts its values with missing
values and NaN last either way, so ranking by a metric best first is one choice.

A grouping is a key function plus whether the group is a tree. `sweep` keeps the runs of
one sweep or chain together (a run launched alone is a group of its own); `lineage`
follows parent links (a clone sits under the run it came from). A group of several runs
can be folded to its first row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from core.models import RunState
from tui.runlist.results import Cells, ResultColumn, rank_key
from tui.runlist.rows import RunRow

STATE_ORDER = {RunState.RUNNING: 0, RunState.QUEUED: 1, RunState.FAILED: 2, RunState.LOST: 3,
               RunState.STOPPED: 4, RunState.CANCELLED: 5, RunState.SUCCEEDED: 6}
SORTS = ("id", "state", "name", "target", "elapsed", "gpu")     # the fixed columns


@dataclass(frozen=True)
class SortContext:
    now: float
    gpu: Callable[[RunRow], float | None]   # live GPU utilisation of a run, if any
    results: dict[str, ResultColumn] = field(default_factory=dict)   # by column name
    cells: Cells = field(default_factory=Cells)


def _value(value) -> tuple:
    """A key that orders numbers before text before missing values, NaN last among numbers."""
    if value is None:
        return (3, 0, "")
    if isinstance(value, bool):
        return (1, 0, str(value))
    if isinstance(value, (int, float)):
        return (2, 0, "") if value != value else (0, value, "")
    if value in ("NaN", "Infinity", "-Infinity"):
        return (0, math.inf if value == "Infinity" else -math.inf, "") \
            if value != "NaN" else (2, 0, "")
    return (1, 0, str(value))


def sort_key(column: str, ctx: SortContext) -> Callable[[RunRow], tuple]:
    if column == "state":
        return lambda r: (STATE_ORDER[r.state], -r.id)
    if column == "name":
        return lambda r: (r.name.lower(), r.id)
    if column == "target":
        return lambda r: (r.target, r.gpu_ids, r.id)
    if column == "elapsed":
        return lambda r: (_value(r.elapsed(ctx.now)), r.id)
    if column == "gpu":
        return lambda r: (_value(ctx.gpu(r)), r.id)
    return lambda r: (r.id,)


def ordering(column: str, ctx: SortContext, descending: bool) -> tuple[Callable, bool]:
    """(key, reverse) for sorted(): a results column's key carries its direction itself."""
    result = ctx.results.get(column) if column not in SORTS else None
    if result is not None:
        cells = ctx.cells
        return rank_key(lambda r: cells(r, result), descending), False
    return sort_key(column, ctx), descending


@dataclass(frozen=True)
class Grouping:
    name: str
    key: Callable[[RunRow, dict[int, RunRow]], object] | None
    tree: bool = False          # members are shown as a tree of parent links


def _lineage_root(row: RunRow, by_id: dict[int, RunRow]) -> int:
    while row.parent is not None and row.parent in by_id:
        row = by_id[row.parent]
    return row.id


def _sweep(row: RunRow, by_id: dict[int, RunRow]) -> object:
    return ("group", row.group) if row.group is not None else ("run", row.id)


# In the order `g` cycles through them; the first is the default.
GROUPINGS: dict[str, Grouping] = {
    "sweep": Grouping("sweep", _sweep),
    "lineage": Grouping("lineage", _lineage_root, tree=True),
    "none": Grouping("none", None),
}


@dataclass(frozen=True)
class Head:
    """The first row of a group of several runs: the group's key, size, whether folded,
    and its members (filtered, in order) for the group row's summary."""

    key: object
    size: int
    folded: bool
    members: tuple = field(default=(), compare=False)


def arrange(rows: list[RunRow], key, reverse: bool, grouping: Grouping,
            folded: frozenset = frozenset()) -> tuple[list[tuple[RunRow, int]], dict[int, Head]]:
    """The rows in display order, each with its depth in its group (0 at the top), and
    the heads of groups of several runs by row id. A folded group shows its head only."""
    ordered = sorted(rows, key=key, reverse=reverse)
    if grouping.key is None:
        return [(row, 0) for row in ordered], {}
    by_id = {row.id: row for row in rows}
    if grouping.tree:
        return _tree(ordered, by_id), {}
    groups: dict[object, list[RunRow]] = {}
    for row in ordered:
        groups.setdefault(grouping.key(row, by_id), []).append(row)
    shown: list[tuple[RunRow, int]] = []
    heads: dict[int, Head] = {}
    for group_key, members in groups.items():
        is_folded = group_key in folded
        if len(members) > 1:
            heads[members[0].id] = Head(group_key, len(members), is_folded, tuple(members))
        for i, row in enumerate(members[:1] if is_folded else members):
            shown.append((row, 0 if i == 0 else 1))
    return shown, heads


def _tree(ordered: list[RunRow], by_id: dict[int, RunRow]) -> list[tuple[RunRow, int]]:
    children: dict[int, list[RunRow]] = {}
    roots = []
    for row in ordered:
        if row.parent is not None and row.parent in by_id:
            children.setdefault(row.parent, []).append(row)
        else:
            roots.append(row)
    out: list[tuple[RunRow, int]] = []
    for root in roots:
        stack = [(root, 0)]
        while stack:                                  # no recursion: lineages can be long
            row, depth = stack.pop()
            out.append((row, depth))
            stack.extend((child, depth + 1) for child in reversed(children.get(row.id, ())))
    return out
