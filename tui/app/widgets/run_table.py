"""The run list: a virtual results table drawn line by line (Textual's Line API).

Only the rows on screen are ever rendered, so 10,000 runs cost what 30 do. A run that
changes repaints its own line and nothing else; rows are reordered only when the order
really changes. Line 0 is the header and stays put while the rows scroll under it.

The columns after the fixed ones are a results table (tui.runlist.results): the params
that differ and the metrics the runs share, or the user's choice, each metric as last,
best, min or max, right-aligned on the decimal point, the best value of each metric
column among the runs that pass the filter in bold and marked `*`. Drawing the cells is
tui.app.widgets.run_cells; the cursor, marks and clicks tui.app.widgets.run_selection.
"""

from __future__ import annotations

from typing import Callable

from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.errors import UsageError
from core.models import RunState
from tui import formatting
from tui.app import keys
from tui.app.widgets.run_cells import RunCells
from tui.app.widgets.run_selection import RunSelection
from tui.runlist import columns as run_columns
from tui.runlist import groups as run_groups
from tui.runlist import order as run_order
from tui.runlist import results
from tui.runlist.filters import RunFilter
from tui.runlist.filters import parse as parse_filter
from tui.runlist.rows import RunRow


class RunTable(RunSelection, RunCells, ScrollView, can_focus=True):
    BINDINGS = keys.bindings("runs")
    COMPONENT_CLASSES = {"runtable--header", "runtable--cursor", "runtable--cursor-blurred",
                         "runtable--mark", "runtable--dim", "runtable--best",
                         *(f"runtable--{s.value}" for s in RunState)}
    cursor = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        def __init__(self, row: RunRow | None) -> None:
            super().__init__()
            self.row = row

    class Activated(Message):
        """Enter on a run: the screen focuses its log."""

    class MarksChanged(Message):
        pass

    class ViewChanged(Message):
        """Sort, columns, grouping or folds changed (the screen saves the view)."""

    def __init__(self, *, clock: Callable[[], float], sparks: Callable[[int, str, int], list],
                 extremes: Callable[[list, list], dict] | None = None,
                 main_metric: str | None = None, better: results.Better = results.Better(),
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.sparks = sparks                  # (run id, metric, count) -> recent values
        self.read_extremes = extremes or (lambda ids, keys: {})
        self.configured_metric = main_metric
        self.better = better
        self.rows: dict[int, RunRow] = {}
        self.shown: list[tuple[RunRow, int]] = []
        self.filtered: list[RunRow] = []
        self.index_of: dict[int, int] = {}
        self.marked: set[int] = set()
        self.filter: RunFilter = parse_filter("")
        self.groups: dict[int, dict] = {}     # group id -> GROUP (names, parents)
        self.sort_column, self.reverse = "id", True      # reverse: highest first
        self.grouping = next(iter(run_order.GROUPINGS))       # sweeps shown as groups
        self.folded: set = set()                               # keys of folded groups
        self.heads: dict[int, run_order.Head] = {}
        self.choice: list[str] | None = None  # the user's columns; None: the defaults
        self.result_columns: list[results.ResultColumn] = []
        self.main: str | None = None          # the metric column with the sparkline
        self.cells = results.Cells(better=better)
        self.best: dict[str, object] = {}     # column name -> best value among the filtered
        self.gpu_figures: dict[tuple[str, int], dict] = {}
        self.columns: list[run_columns.Column] = []
        self._widths = run_columns.Widths()
        self._extremes: dict[int, dict] = {}
        self._extremes_of: dict[int, tuple] = {}
        self._summaries: dict[object, run_groups.GroupSummary] = {}
        self._selected_id: int | None = None
        self.init_cells()

    # ------------------------------------------------------------ data in

    def set_rows(self, rows: list[RunRow]) -> None:
        self.rows = {row.id: row for row in rows}
        self.rebuild()

    def add_older(self, rows: list[RunRow]) -> None:
        """The rest of the store, read after the first screen; fresher rows are kept."""
        for row in rows:
            self.rows.setdefault(row.id, row)
        self.rebuild()

    def update_groups(self, groups: dict[int, dict]) -> None:
        """Groups read again (a search's progress): their rows are repainted."""
        self.groups = {**self.groups, **groups}
        self._measure()
        self.refresh()

    def set_groups(self, groups: dict[int, dict]) -> None:
        self.groups = groups
        if not self.filter.empty:
            self.filter = parse_filter(self.filter.text, groups)
            self.rebuild()

    def update_rows(self, rows: list[RunRow]) -> list[tuple[RunRow | None, RunRow]]:
        """Take changed rows; repaint only those lines. Returns (before, after) pairs."""
        changes = []
        for row in rows:
            before = self.rows.get(row.id)
            if before is not None and before.signature == row.signature:
                continue
            self.rows[row.id] = row
            self.forget_spark(row.id)
            changes.append((before, row))
        if not changes:
            return changes
        refiltered = not self.filter.empty and any(
            before is None or self.filter(before) != self.filter(after)
            for before, after in changes)
        if refiltered or any(before is None for before, _ in changes) or self._order_changed():
            self.rebuild()
        else:
            for _, row in changes:
                index = self.index_of.get(row.id)
                if index is not None:
                    self.shown[index] = (row, self.shown[index][1])
                    self._refresh_run(row.id)
        return changes

    def remove_rows(self, ids: list[int]) -> None:
        """Runs removed from the store (`tui rm`): gone from the list and the marks."""
        gone = [i for i in ids if self.rows.pop(i, None) is not None]
        if gone:
            self.marked.difference_update(gone)
            self.rebuild()

    def add_row(self, row: RunRow, select: bool = True) -> None:
        """A run just launched from the app: it shows at once, before the store is polled."""
        if row.id not in self.rows:
            self.rows[row.id] = row
            self.rebuild()
        if select and row.id in self.index_of:
            self.cursor = self.index_of[row.id]

    def set_gpu_figures(self, figures: dict) -> None:
        if figures == self.gpu_figures:
            return
        column_changes = bool(figures) != bool(self.gpu_figures)
        self.gpu_figures = figures
        if column_changes or self.sort_column == "gpu":
            self.rebuild()
            return
        top = round(self.scroll_y)                  # repaint the rows on GPUs, no others
        for index in range(top, min(len(self.shown), top + self.size.height)):
            if self.shown[index][0].gpu_ids:
                self.refresh_line(index + 1)

    # ------------------------------------------------------------ view settings

    def set_filter(self, run_filter: RunFilter) -> None:
        self.filter = run_filter
        self.rebuild()

    def set_sort(self, column: str, reverse: bool | None = None) -> None:
        """Sort by a column; without a direction, its natural one (a metric best first)."""
        self.sort_column = column
        self.reverse = self.natural_direction(column) if reverse is None else reverse
        self.rebuild()
        self.post_message(self.ViewChanged())

    def natural_direction(self, column: str) -> bool:
        """Whether a column sorts highest first by default: ids, times and GPU use newest
        and busiest first; a metric its best first; the rest ascending."""
        if column in ("id", "elapsed", "gpu"):
            return True
        result = self.column_for(column)
        return result is not None and self.cells.best_first(result)

    def column_for(self, name: str) -> results.ResultColumn | None:
        """The results column a name stands for: shown, or any param or metric of the runs."""
        for column in self.result_columns:
            if column.name == name:
                return column
        if name in run_order.SORTS:
            return None
        rows = self.filtered or list(self.rows.values())
        try:
            return results.column_named(name, rows)
        except UsageError:
            return None

    def set_columns(self, choice: list[str] | None) -> None:
        """The results columns by name (`lr`, `val_acc:best`); None: the defaults."""
        self.choice = list(choice) if choice is not None else None
        self.rebuild()
        self.post_message(self.ViewChanged())

    def set_grouping(self, name: str) -> None:
        self.grouping = name
        self.folded.clear()
        self.rebuild()
        self.post_message(self.ViewChanged())

    def action_fold(self) -> None:
        """Fold the group of the current run to one row, or unfold it."""
        row = self.current
        head = self.head_of(row) if row is not None else None
        if head is None:
            return
        self.folded.symmetric_difference_update({head.key})
        self.rebuild()
        self.post_message(self.ViewChanged())

    def action_fold_all(self) -> None:
        """Fold every group, or unfold them all if any is folded."""
        self.folded = set() if self.folded else {head.key for head in self.heads.values()}
        self.rebuild()
        self.post_message(self.ViewChanged())

    def head_of(self, row: RunRow) -> run_order.Head | None:
        grouping = run_order.GROUPINGS[self.grouping]
        if grouping.key is None or grouping.tree:
            return None
        key = grouping.key(row, self.rows)
        return next((head for head in self.heads.values() if head.key == key), None)

    def summary_of(self, head: run_order.Head) -> run_groups.GroupSummary:
        """A group row's summary: runs by state, worst active state, best of the main metric."""
        found = self._summaries.get(head.key)
        if found is None:
            rank = self.column_for(self.main) if self.main else None
            found = run_groups.summarize(list(head.members), rank, self.cells,
                                         [c for c in self.result_columns if c.is_metric])
            self._summaries[head.key] = found
        return found

    # ------------------------------------------------------------ ordering

    def _arranged(self):
        rows = [row for row in self.rows.values() if self.filter(row)] \
            if not self.filter.empty else list(self.rows.values())
        columns = self._choose_columns(rows)
        cells = self._cells_for(rows, columns)
        ctx = run_order.SortContext(now=self.clock(), gpu=self._gpu_util,
                                    results={c.name: c for c in columns}, cells=cells)
        if self.sort_column not in run_order.SORTS and self.sort_column not in ctx.results:
            extra = self.column_for(self.sort_column)
            if extra is not None:                     # sorted by a column not shown: show it
                columns = [*columns, extra]
                ctx.results[extra.name] = extra
                cells = self._cells_for(rows, columns)
                ctx = run_order.SortContext(ctx.now, ctx.gpu, ctx.results, cells)
        key, reverse = run_order.ordering(self.sort_column, ctx, self.reverse)
        shown, heads = run_order.arrange(rows, key, reverse, run_order.GROUPINGS[self.grouping],
                                         frozenset(self.folded))
        return rows, columns, cells, shown, heads

    def _choose_columns(self, rows: list[RunRow]) -> list[results.ResultColumn]:
        if self.choice is None:
            columns = results.default_columns(rows)
            wanted = self.configured_metric
            if wanted and wanted not in {c.name for c in columns} and \
                    any(wanted in r.metrics for r in rows):
                columns.append(results.ResultColumn("metric", wanted))
            return columns
        out = []
        for name in self.choice:                  # a saved choice: skip what is not here
            try:
                out.append(results.column_named(name, rows))
            except UsageError:
                continue
        return out

    def _cells_for(self, rows: list[RunRow], columns) -> results.Cells:
        """Cells with the min and max of the metrics shown as best, min or max, read from
        the store for the runs that changed since they were read."""
        wanted = tuple(results.needs_extremes(columns))
        if wanted:
            stale = [r.id for r in rows if self._extremes_of.get(r.id) != (r.signature, wanted)]
            if stale:
                found = self.read_extremes(stale, list(wanted))
                for row_id in stale:
                    self._extremes[row_id] = found.get(row_id, {})
                    self._extremes_of[row_id] = (self.rows[row_id].signature, wanted)
        return results.Cells(self._extremes, self.better)

    def _order_changed(self) -> bool:
        if self.sort_column in ("id", "name", "target"):
            return False
        return [r.id for r, _ in self._arranged()[3]] != [r.id for r, _ in self.shown]

    def rebuild(self) -> None:
        selected = self._selected_id
        self.filtered, self.result_columns, self.cells, self.shown, self.heads = self._arranged()
        self._summaries = {}
        self.main = self._main_column()
        self.best = self._best_values()
        self.index_of = {row.id: i for i, (row, _) in enumerate(self.shown)}
        self._measure()
        self.virtual_size = Size(self.size.width, len(self.shown) + 1)
        fallback = min(self.cursor, max(0, len(self.shown) - 1))
        index = self.index_of.get(selected, fallback) if selected is not None else fallback
        self.set_reactive(RunTable.cursor, index)
        self._announce()
        self._scroll_to_cursor()
        self.refresh()

    def _main_column(self) -> str | None:
        """The metric column with the sparkline (and the one the chart opens on): the
        sorted-by metric, else the configured main metric, else the first metric column."""
        metrics = [c.name for c in self.result_columns if c.is_metric]
        if self.sort_column in metrics:
            return self.sort_column
        if self.configured_metric in metrics:
            return self.configured_metric
        return metrics[0] if metrics else None

    @property
    def metric(self) -> str | None:
        """The main metric's key (the chart's default metric)."""
        column = self.column_for(self.main) if self.main else None
        return column.key if column is not None else None

    def _best_values(self) -> dict[str, object]:
        best = results.best_ids(self.filtered, self.result_columns, self.cells)
        by_name = {c.name: c for c in self.result_columns}
        return {name: self.cells(self.rows[next(iter(ids))], by_name[name])
                for name, ids in best.items()}

    def _measure(self) -> None:
        self._widths = run_columns.measure(self.shown, self.result_columns,
                                           self.measure_results(), self.main,
                                           bool(self.gpu_figures), self.name_cell)
        self.columns = run_columns.layout(self.size.width or 80, self._widths)

    def on_resize(self) -> None:
        self.columns = run_columns.layout(self.size.width or 80, self._widths)
        self.virtual_size = Size(self.size.width, len(self.shown) + 1)
        self._scroll_to_cursor()
        self.refresh()

    def _gpu_util(self, row: RunRow) -> float | None:
        figures = [self.gpu_figures[(row.target, g)] for g in row.gpu_ids
                   if (row.target, g) in self.gpu_figures]
        utils = [f["utilization_pct"] for f in figures if f.get("utilization_pct") is not None]
        return sum(utils) / len(utils) if utils else None

    # ------------------------------------------------------------ ticking clocks

    def tick(self) -> None:
        """Repaint the elapsed time of running runs whose shown value changed."""
        if not any(c.name == "elapsed" for c in self.columns):
            return
        now = self.clock()
        top = round(self.scroll_y)
        for index in range(top, min(len(self.shown), top + self.size.height)):
            row = self.shown[index][0]
            if row.state is RunState.RUNNING:
                text = formatting.duration(row.elapsed(now))
                if self._elapsed_shown.get(row.id) != text:
                    self.refresh_line(index + 1)

    def _refresh_run(self, run_id: int) -> None:
        if run_id in self.index_of:
            self.refresh_line(self.index_of[run_id] + 1)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self.header_strip(width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self.shown):
            return Strip.blank(width, self.rich_style)
        row, depth = self.shown[index]
        return self.row_strip(row, depth, index == self.cursor, width)
