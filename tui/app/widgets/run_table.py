"""The run list: a virtual table drawn line by line (Textual's Line API).

Only the rows on screen are ever rendered, so 10,000 runs cost what 30 do. A run that
changes repaints its own line and nothing else; rows are reordered only when the order
really changes. Line 0 is the header and stays put while the rows scroll under it.
"""

from __future__ import annotations

from typing import Callable

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.models import RunState
from tui import formatting
from tui.app import keys
from tui.runlist import columns as run_columns
from tui.runlist import order as run_order
from tui.runlist.filters import RunFilter
from tui.runlist.filters import parse as parse_filter
from tui.runlist.rows import RunRow

SPARK_POINTS = run_columns.SPARK_WIDTH


class RunTable(ScrollView, can_focus=True):
    BINDINGS = keys.bindings("runs")
    COMPONENT_CLASSES = {"runtable--header", "runtable--cursor", "runtable--cursor-blurred",
                         "runtable--mark", "runtable--dim", *(f"runtable--{s.value}"
                                                               for s in RunState)}
    cursor = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        def __init__(self, row: RunRow | None) -> None:
            super().__init__()
            self.row = row

    class Activated(Message):
        """Enter on a run: the screen focuses its log."""

    class MarksChanged(Message):
        pass

    def __init__(self, *, clock: Callable[[], float], sparks: Callable[[int, str, int], list],
                 main_metric: str | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.sparks = sparks                  # (run id, metric, count) -> recent values
        self.configured_metric = main_metric
        self.rows: dict[int, RunRow] = {}
        self.shown: list[tuple[RunRow, int]] = []
        self.index_of: dict[int, int] = {}
        self.marked: set[int] = set()
        self.filter: RunFilter = parse_filter("")
        self.sort_column, self.reverse = "id", True
        self.grouping = next(iter(run_order.GROUPINGS))       # sweeps shown as groups
        self.folded: set = set()                               # keys of folded groups
        self.heads: dict[int, run_order.Head] = {}
        self.params: tuple[str, ...] = ()
        self.metric: str | None = None
        self.gpu_figures: dict[tuple[str, int], dict] = {}
        self.columns: list[run_columns.Column] = []
        self._widths = run_columns.Widths()
        self._spark_cache: dict[int, tuple[object, str]] = {}
        self._elapsed_shown: dict[int, str] = {}
        self._selected_id: int | None = None

    # ------------------------------------------------------------ data in

    def set_rows(self, rows: list[RunRow]) -> None:
        self.rows = {row.id: row for row in rows}
        self.rebuild()

    def add_older(self, rows: list[RunRow]) -> None:
        """The rest of the store, read after the first screen; fresher rows are kept."""
        for row in rows:
            self.rows.setdefault(row.id, row)
        self.rebuild()

    def update_rows(self, rows: list[RunRow]) -> list[tuple[RunRow | None, RunRow]]:
        """Take changed rows; repaint only those lines. Returns (before, after) pairs."""
        changes = []
        for row in rows:
            before = self.rows.get(row.id)
            if before is not None and before.signature == row.signature:
                continue
            self.rows[row.id] = row
            self._spark_cache.pop(row.id, None)
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

    def set_sort(self, column: str, reverse: bool) -> None:
        self.sort_column, self.reverse = column, reverse
        self.rebuild()

    def set_grouping(self, name: str) -> None:
        self.grouping = name
        self.folded.clear()
        self.rebuild()

    def action_fold(self) -> None:
        """Fold the group of the current run to one row, or unfold it."""
        row = self.current
        head = self._head_of(row) if row is not None else None
        if head is None:
            return
        self.folded.symmetric_difference_update({head.key})
        self.rebuild()

    def action_fold_all(self) -> None:
        """Fold every group, or unfold them all if any is folded."""
        self.folded = set() if self.folded else {head.key for head in self.heads.values()}
        self.rebuild()

    def _head_of(self, row: RunRow) -> run_order.Head | None:
        grouping = run_order.GROUPINGS[self.grouping]
        if grouping.key is None or grouping.tree:
            return None
        key = grouping.key(row, self.rows)
        return next((head for head in self.heads.values() if head.key == key), None)

    def toggle_mark(self) -> None:
        row = self.current
        if row is None:
            return
        self.marked.symmetric_difference_update({row.id})
        self._refresh_run(row.id)
        self.post_message(self.MarksChanged())

    def unmark_all(self) -> None:
        self.marked.clear()
        self.refresh()
        self.post_message(self.MarksChanged())

    @property
    def current(self) -> RunRow | None:
        if 0 <= self.cursor < len(self.shown):
            return self.shown[self.cursor][0]
        return None

    @property
    def marked_rows(self) -> list[RunRow]:
        return [self.rows[i] for i in sorted(self.marked) if i in self.rows]

    def select_run(self, run_id: int) -> bool:
        if run_id in self.index_of:
            self.cursor = self.index_of[run_id]
            return True
        return False

    # ------------------------------------------------------------ ordering

    def _sort_context(self) -> run_order.SortContext:
        return run_order.SortContext(now=self.clock(), params=self.params, metric=self.metric,
                                     gpu=self._gpu_util)

    def _arranged(self) -> tuple[list[tuple[RunRow, int]], dict[int, run_order.Head]]:
        rows = [row for row in self.rows.values() if self.filter(row)] \
            if not self.filter.empty else list(self.rows.values())
        self.params = tuple(formatting.varying_params([r.params for r in rows])) \
            if len(rows) > 1 else ()
        self.metric = self._main_metric(rows)
        key = run_order.sort_key(self.sort_column, self._sort_context())
        return run_order.arrange(rows, key, self.reverse, run_order.GROUPINGS[self.grouping],
                                 frozenset(self.folded))

    def _order_changed(self) -> bool:
        if self.sort_column in ("id", "name", "target"):
            return False
        return [r.id for r, _ in self._arranged()[0]] != [r.id for r, _ in self.shown]

    def rebuild(self) -> None:
        selected = self._selected_id
        self.shown, self.heads = self._arranged()
        self.index_of = {row.id: i for i, (row, _) in enumerate(self.shown)}
        self._measure()
        self.virtual_size = Size(self.size.width, len(self.shown) + 1)
        fallback = min(self.cursor, max(0, len(self.shown) - 1))
        index = self.index_of.get(selected, fallback) if selected is not None else fallback
        self.set_reactive(RunTable.cursor, index)
        self._announce()
        self._scroll_to_cursor()
        self.refresh()

    def _main_metric(self, rows: list[RunRow]) -> str | None:
        if self.configured_metric:
            return self.configured_metric
        counts: dict[str, int] = {}
        for row in rows[-2000:]:
            for key in row.metrics:
                if key != "step":
                    counts[key] = counts.get(key, 0) + 1
        if "loss" in counts:
            return "loss"
        return max(sorted(counts), key=counts.__getitem__) if counts else None

    def _measure(self) -> None:
        self._widths = run_columns.measure(self.shown, self.params, self.metric,
                                           bool(self.gpu_figures), self.heads)
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

    # ------------------------------------------------------------ cursor and keys

    def watch_cursor(self, old: int, new: int) -> None:
        clamped = max(0, min(new, len(self.shown) - 1)) if self.shown else 0
        if clamped != new:
            self.set_reactive(RunTable.cursor, clamped)
        self.refresh_line(old + 1)
        self.refresh_line(clamped + 1)
        self._scroll_to_cursor()
        self._announce()

    def _announce(self) -> None:
        row = self.current
        run_id = row.id if row else None
        if run_id != self._selected_id:
            self._selected_id = run_id
            self.post_message(self.Highlighted(row))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_cursor_up(self) -> None:
        self.cursor = max(0, self.cursor - 1)

    def action_page_down(self) -> None:
        self.cursor += max(1, self.size.height - 2)

    def action_page_up(self) -> None:
        self.cursor = max(0, self.cursor - max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self.shown) - 1

    def action_mark(self) -> None:
        self.toggle_mark()
        self.cursor += 1

    def action_unmark_all(self) -> None:
        self.unmark_all()

    def action_focus_log(self) -> None:
        self.post_message(self.Activated())

    def on_click(self, event) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x)
            if column in run_order.SORTS:
                reverse = not self.reverse if column == self.sort_column else column == "id"
                self.set_sort(column, reverse)
            return
        self.cursor = round(self.scroll_y) + offset.y - 1

    def _column_at(self, x: int) -> str | None:
        start = 0
        for column in self.columns:
            if start <= x < start + column.width:
                return column.name
            start += column.width + 1
        return None

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

    # ------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._header(width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self.shown):
            return Strip.blank(width, self.rich_style)
        row, depth = self.shown[index]
        return self._row(row, depth, index == self.cursor, width)

    def _header(self, width: int) -> Strip:
        style = self.get_component_rich_style("runtable--header")
        text = Text(no_wrap=True, style=style)
        for i, column in enumerate(self.columns):
            title = column.title
            if column.name == self.sort_column:
                title += "↓" if self.reverse else "↑"
            text.append((" " if i else "") + _fit(title, column.width, column.right))
        return _strip(text, width, style, self.app.console)

    def _row(self, row: RunRow, depth: int, is_cursor: bool, width: int) -> Strip:
        base = self.rich_style
        if is_cursor:
            base = base + self.get_component_rich_style(
                "runtable--cursor" if self.has_focus else "runtable--cursor-blurred")
        text = Text(no_wrap=True, style=base)
        for i, column in enumerate(self.columns):
            if i:
                text.append(" ")
            content, style = self._cell(column.name, row, depth)
            text.append(_fit(content, column.width, column.right), style)
        return _strip(text, width, base, self.app.console)

    def _cell(self, name: str, row: RunRow, depth: int) -> tuple[str, Style | None]:
        if name == "mark":
            state_style = self.get_component_rich_style(f"runtable--{row.state.value}",
                                                        partial=True)
            return run_columns.mark_text(row, row.id in self.marked), state_style
        if name == "id":
            return str(row.id), None
        if name == "name":
            return run_columns.name_text(row, depth, self.heads.get(row.id)), None
        if name == "parent":
            return (f"←{row.parent}" if row.parent is not None else ""), \
                self.get_component_rich_style("runtable--dim", partial=True)
        if name == "target":
            return run_columns.target_text(row), None
        if name == "elapsed":
            text = formatting.duration(row.elapsed(self.clock()))
            self._elapsed_shown[row.id] = text
            return text, None
        if name == "params":
            return run_columns.params_text(row, self.params), None
        if name == "metric":
            value = run_columns.metric_text(row, self.metric)
            spark = self._spark(row)
            return f"{value:>{run_columns.METRIC_VALUE_WIDTH}} {spark}", None
        if name == "gpu":
            return run_columns.gpu_text([self.gpu_figures[(row.target, g)] for g in row.gpu_ids
                                         if (row.target, g) in self.gpu_figures]), None
        return "", None

    def _spark(self, row: RunRow) -> str:
        if self.metric is None or self.metric not in row.metrics:
            return ""
        key = (self.metric, row.signature)
        cached = self._spark_cache.get(row.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        line = run_columns.sparkline(self.sparks(row.id, self.metric, SPARK_POINTS))
        self._spark_cache[row.id] = (key, line)
        return line


def _fit(text: str, width: int, right: bool) -> str:
    size = cell_len(text)
    if size > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    pad = " " * (width - size)
    return pad + text if right else text + pad


def _strip(text: Text, width: int, style: Style, console) -> Strip:
    segments = list(text.render(console, end=""))
    return Strip(segments).crop_extend(0, width, style).apply_style(style)

