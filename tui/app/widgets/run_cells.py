"""Drawing the run list's header and rows: every cell, the best values, a folded group's row.

Mixed into RunTable, which holds the rows, columns and results state. A results cell is
its value right-aligned on the decimal point (widths measured over the rows shown); the
best value of a metric column is bold, in the theme's accent, and followed by `*`, so it
reads without colour too. A folded group's row shows its worst active member's state,
its size and runs by state, the group's best value of each metric column, and the
params its runs share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from tui import formatting
from tui import search_text
from tui.runlist import columns as run_columns
from tui.runlist import results
from tui.runlist.rows import RunRow

if TYPE_CHECKING:
    from tui.app.widgets.run_table_parts import RunTableParts as _Table
else:
    _Table = object                  # RunTable gives the state (run_table_parts)

SPARK_POINTS = run_columns.SPARK_WIDTH
BEST_ON_CURSOR = Style(bold=True, underline=True)


class RunCells(_Table):
    """The drawing half of RunTable (see there for the state it reads)."""

    def init_cells(self) -> None:
        self._spark_cache: dict[int, tuple[object, str]] = {}
        self._elapsed_shown: dict[int, str] = {}
        self._aligns: dict[str, tuple[int, int] | None] = {}
        self._group_values: dict[tuple, object] = {}

    def forget_spark(self, run_id: int) -> None:
        self._spark_cache.pop(run_id, None)

    # ------------------------------------------------------------ values

    def result_value(self, row: RunRow, column: results.ResultColumn):
        """A cell's value; on a folded group's row, the group's (best, or shared param)."""
        head = self.heads.get(row.id)
        if head is None or not head.folded:
            return self.cells(row, column)
        key = (head.key, column.name)
        if key not in self._group_values:
            self._group_values[key] = self._group_value(head.members, column)
        return self._group_values[key]

    def _group_value(self, members, column: results.ResultColumn):
        values = [self.cells(m, column) for m in members]
        if not column.is_metric:
            return values[0] if len({repr(v) for v in values}) == 1 else None
        numbers = [v for v in values if v is not None and v == v]
        if not numbers:
            return values[0]
        return min(numbers) if self.better.lower(column.key) else max(numbers)

    def measure_results(self) -> dict[str, int]:
        """Each results column's width over the rows shown, and its decimal alignment."""
        self._group_values = {}
        self._aligns = {}
        sample = run_columns.sample(self.shown)
        widths = {}
        for column in self.result_columns:
            values = [self.result_value(row, column) for row, _ in sample]
            texts = [run_columns.plain(results.cell_text(v)) for v in values]
            if results.all_numbers(values):
                left, right = formatting.decimal_widths(t for t in texts if t)
                self._aligns[column.name] = (left, right)
                width = left + right
            else:
                self._aligns[column.name] = None
                width = max([cell_len(t) for t in texts] + [0])
            width += 1 if column.is_metric else 0               # the best mark
            widths[column.name] = max(width, cell_len(run_columns.plain(column.name)) + 1)
        return widths

    def result_text(self, row: RunRow, column: results.ResultColumn) -> tuple[str, bool]:
        """The cell as shown, and whether it holds its column's best value."""
        value = self.result_value(row, column)
        text = run_columns.plain(results.cell_text(value))
        align = self._aligns.get(column.name)
        if align is not None and text:
            text = formatting.align_decimal(text, *align)
        if not column.is_metric:
            return text, False
        best = value is not None and column.name in self.best and value == self.best[column.name]
        return text + (run_columns.BEST_MARK if best else " "), best

    # ------------------------------------------------------------ drawing

    def header_strip(self, width: int) -> Strip:
        style = self.get_component_rich_style("runtable--header")
        text = Text(no_wrap=True, style=style)
        for i, column in enumerate(self.columns):
            title = column.title
            if column.name == self.sort_column:
                title += "↓" if self.reverse else "↑"
            text.append((" " if i else "") + _fit(title, column.width, column.right))
        return _strip(text, width, style, self.app.console)

    def row_strip(self, row: RunRow, depth: int, is_cursor: bool, width: int) -> Strip:
        base = self.rich_style
        if is_cursor:
            base = base + self.get_component_rich_style(
                "runtable--cursor" if self.has_focus else "runtable--cursor-blurred")
            if self.app.no_color:                 # no colour: the cursor is reverse video
                base = base + Style(reverse=True)
        text = Text(no_wrap=True, style=base)
        for i, column in enumerate(self.columns):
            if i:
                text.append(" ")
            content, style = self._cell(column, row, depth, is_cursor)
            text.append(_fit(content, column.width, column.right), style)
        return _strip(text, width, base, self.app.console)

    def _cell(self, column, row: RunRow, depth: int,
              is_cursor: bool = False) -> tuple[str, Style | None]:
        name = column.name
        if column.result is not None:
            text, best = self.result_text(row, column.result)
            if not best:
                return text, None
            if is_cursor:                 # the accent would fight the cursor's colour
                return text, BEST_ON_CURSOR
            return text, self.get_component_rich_style("runtable--best", partial=True)
        head = self.heads.get(row.id)
        folded = head is not None and head.folded
        if name == "mark":
            state = self.summary_of(head).state if head is not None and head.folded \
                else row.state
            state_style = self.get_component_rich_style(f"runtable--{state.value}",
                                                        partial=True)
            return run_columns.mark_text(row, row.id in self.marked, state), state_style
        if name == "id":
            return str(row.id), None
        if name == "name":
            return self.name_cell(row, depth), None
        if name == "parent":
            return (f"←{row.parent}" if row.parent is not None else ""), \
                self.get_component_rich_style("runtable--dim", partial=True)
        if name == "target":
            return run_columns.target_text(row), None
        if name == "elapsed":
            text = formatting.duration(row.elapsed(self.clock()))
            self._elapsed_shown[row.id] = text
            return text, None
        if name == "spark":
            return ("" if folded else self._spark(row)), \
                self.get_component_rich_style("runtable--dim", partial=True)
        if name == "gpu":
            return run_columns.gpu_text([self.gpu_figures[(row.target, g)] for g in row.gpu_ids
                                         if (row.target, g) in self.gpu_figures]), None
        return "", None

    def name_cell(self, row: RunRow, depth: int) -> str:
        """The name; a folded group's row adds its runs by state, a search's its trials
        done of the budget, in flight, pruned and failed (`12/40 ▶4 ■3`)."""
        head = self.heads.get(row.id)
        counts = ""
        if head is not None and head.folded:
            group = self.groups.get(row.group) if row.group is not None else None
            counts = search_text.counts(group["search"]) if group and "search" in group \
                else self.summary_of(head).counts_text()
        return run_columns.name_text(row, depth, head, counts)

    def _spark(self, row: RunRow) -> str:
        metric = self.metric
        if metric is None or metric not in row.metrics:
            return ""
        key = (metric, row.signature)
        cached = self._spark_cache.get(row.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        line = run_columns.sparkline(self.sparks(row.id, metric, SPARK_POINTS))
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
