"""What RunTable gives the parts it is made of (RunSelection, RunCells): for the type
checker only. Under `TYPE_CHECKING` the parts derive from RunTableParts, at run time from
object; RunTable itself sets all of this (see its __init__)."""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView

from tui.runlist import columns as run_columns
from tui.runlist import groups as run_groups
from tui.runlist import order as run_order
from tui.runlist import results
from tui.runlist.filters import RunFilter
from tui.runlist.rows import RunRow


class RunTableParts(ScrollView):
    @property
    def metric(self) -> str | None:                   # the main metric's key
        return None

    cursor: reactive[int]
    Highlighted: Callable[[RunRow | None], Message]
    Activated: Callable[[], Message]
    MarksChanged: Callable[[], Message]

    clock: Callable[[], float]
    sparks: Callable[[int, str, int], list]
    better: results.Better
    rows: dict[int, RunRow]
    shown: list[tuple[RunRow, int]]
    filtered: list[RunRow]
    index_of: dict[int, int]
    marked: set[int]
    filter: RunFilter
    sort_column: str
    reverse: bool
    heads: dict[int, run_order.Head]
    result_columns: list[results.ResultColumn]
    cells: results.Cells
    best: dict[str, object]
    gpu_figures: dict[tuple[str, int], dict]
    groups: dict[int, dict]                           # group id -> GROUP (a search's progress)
    columns: list[run_columns.Column]
    _selected_id: int | None
    set_sort: Callable[..., None]                     # (column, reverse=None)
    summary_of: Callable[[run_order.Head], run_groups.GroupSummary]
    _refresh_run: Callable[[int], None]
