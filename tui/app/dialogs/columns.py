"""`o`: choose the run list's results columns: any param, any metric as last, best, min or max.

Each line reads `[x]` (shown) or `[ ]` (not shown), in words as well as colour. `space`
shows or hides a column, `←`/`→` (`h`/`l`) switch a metric between last, best, min and max,
`d` goes back to the defaults (the params that differ, the metrics the runs share), Enter
keeps the choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static

from tui.app import keys
from tui.app.widgets.key_bar import KeyBar
from tui.runlist.columns import plain
from tui.runlist.results import SUMMARIES, ResultColumn


@dataclass
class Line:
    column: ResultColumn
    on: bool


class ColumnsDialog(ModalScreen[list[str] | str | None]):
    """Returns the column names chosen, "defaults", or None (nothing changed)."""

    BINDINGS = [*keys.bindings("dialog"),
                Binding("space", "toggle_column", "show / hide", show=False),
                Binding("right,l", "summary(1)", "next summary", show=False),
                Binding("left,h", "summary(-1)", "previous summary", show=False),
                Binding("d", "defaults", "defaults", show=False),
                Binding("enter", "keep", "keep", priority=True, show=False)]

    def __init__(self, shown: list[ResultColumn], params: list[str], metrics: list[str]) -> None:
        super().__init__(classes="dialog-screen")
        taken = {(c.kind, c.key) for c in shown}
        self.lines = [Line(c, True) for c in shown]
        self.lines += [Line(ResultColumn("param", k), False) for k in params
                       if ("param", k) not in taken]
        self.lines += [Line(ResultColumn("metric", k), False) for k in metrics
                       if ("metric", k) not in taken]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog columns"):
            yield Static("columns", classes="title", markup=False)
            yield OptionList(*(self._prompt(line) for line in self.lines), id="column-list")
            yield Static("space: show/hide · ←→: last/best/min/max · d: defaults · "
                         "enter: keep · esc: cancel", classes="hint")
        yield KeyBar(entries=[("space", "show/hide"), ("←/→", "last/best/min/max"),
                              ("d", "defaults"), ("enter", "keep"), ("esc", "cancel")])

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def _prompt(self, line: Line) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("[x] " if line.on else "[ ] ", "bold" if line.on else "")
        text.append(plain(line.column.key))
        if line.column.is_metric:
            text.append(f"  ‹{line.column.summary}›", "bold")
            text.append("  metric", "dim")
        else:
            text.append("  param", "dim")
        return text

    def _redraw(self, index: int) -> None:
        self.query_one(OptionList).replace_option_prompt_at_index(
            index, self._prompt(self.lines[index]))

    def _current(self) -> int | None:
        return self.query_one(OptionList).highlighted

    def action_toggle_column(self) -> None:
        index = self._current()
        if index is not None:
            self.lines[index].on = not self.lines[index].on
            self._redraw(index)

    def action_summary(self, step: int) -> None:
        index = self._current()
        if index is None or not self.lines[index].column.is_metric:
            return
        column = self.lines[index].column
        summary = SUMMARIES[(SUMMARIES.index(column.summary) + step) % len(SUMMARIES)]
        self.lines[index] = Line(ResultColumn("metric", column.key, summary), True)
        self._redraw(index)

    def action_defaults(self) -> None:
        self.dismiss("defaults")

    def action_keep(self) -> None:
        self.dismiss([line.column.name for line in self.lines if line.on])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_keep()

    def action_dismiss_dialog(self) -> None:
        self.dismiss(None)
