"""`d`: two runs side by side: the params that differ, final metrics with deltas, the code
diff, and their outputs (the files each wrote: which differ, small text files diffed), read
through the engine in a worker thread while the rest is already shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from core.client import engine_alive
from tui import formatting
from tui.app import keys
from tui.runlist.columns import plain
from tui.runlist.diff import RunDiff
from tui.runlist.output_diff import OutputChange, outputs_of
from tui.app.themes import rich_colour

if TYPE_CHECKING:
    from textual import getters

    from tui.app.app import RunyardApp


def _show(value) -> str:
    if value is None:
        return "—"
    return plain(formatting.number(value) if isinstance(value, float) else str(value))


class DiffScreen(Screen[None]):
    BINDINGS = [*keys.bindings("dialog"), Binding("q", "dismiss_dialog", "close", show=True),
                Binding("down,j", "scroll(1)", show=False), Binding("up,k", "scroll(-1)", show=False),
                Binding("pagedown,space", "scroll(20)", show=False),
                Binding("pageup", "scroll(-20)", show=False)]

    if TYPE_CHECKING:                     # Textual's typed `app` (the import would be a circle)
        app = getters.app(RunyardApp)

    def __init__(self, diff: RunDiff) -> None:
        super().__init__()
        self.diff = diff

    def compose(self) -> ComposeResult:
        d = self.diff
        yield Static(Text(f"run {d.left.id} {plain(d.left.name)}  →  run {d.right.id} "
                          f"{plain(d.right.name)}", style="bold"), classes="screen-title")
        with VerticalScroll(id="diff-body"):
            yield Static(self._params(), classes="diff-section")
            yield Static(self._metrics(), classes="diff-section")
            yield Static(self._code(), classes="diff-section")
            yield Static(Text("outputs: reading the files the runs wrote…", style="dim"),
                         id="diff-outputs", classes="diff-section")
        yield Footer()

    def on_mount(self) -> None:
        paths, left, right = self.app.paths, self.diff.left.id, self.diff.right.id
        if not self.app.revive_engine and not engine_alive(paths):
            # An app told to leave the engine alone (a test's fixed store) starts none.
            self._outputs(([], "outputs: not compared (no engine runs for this store)"))
            return
        self.app.in_thread("diff-outputs", lambda: outputs_of(paths, left, right),
                           self._outputs)

    def _outputs(self, found: tuple[list[OutputChange], str]) -> None:
        changes, problem = found
        title = Text("outputs (A = run %d, B = run %d)" % (self.diff.left.id,
                                                          self.diff.right.id), style="bold")
        body = [Text(plain(problem), style="dim")] if problem else []
        if changes:
            body += self._output_lines(changes)
        elif not problem:
            body.append(Text("neither run wrote a file", style="dim"))
        self.query_one("#diff-outputs", Static).update(Group(title, *body))

    def _output_lines(self, changes: list[OutputChange]) -> list[Text]:
        theme = self.app.current_theme
        plus, minus = (rich_colour(c or theme.primary) for c in (theme.success, theme.error))
        lines = []
        for change in changes:
            sizes = " / ".join(formatting.size(s) if s is not None else "—"
                               for s in change.sizes)
            lines.append(Text(f"{change.status:10} {plain(change.path)}  ({sizes})"
                              + (f"  {change.note}" if change.note else ""),
                              style="bold" if change.status != "same" else "dim"))
            for line in change.lines:
                style = plus if line.startswith("+") else minus if line.startswith("-") else ""
                lines.append(Text(line, style=style, no_wrap=True))
        return lines

    def _params(self):
        d = self.diff
        if not d.params:
            return Text("params: the same", style="dim")
        table = Table(title="params that differ", title_justify="left", box=None,
                      padding=(0, 2), title_style="bold")
        table.add_column("param")
        table.add_column(f"run {d.left.id}", justify="right")
        table.add_column(f"run {d.right.id}", justify="right")
        for key, a, b in d.params:
            table.add_row(plain(key), _show(a), _show(b))
        return table

    def _metrics(self):
        d = self.diff
        if not d.metrics:
            return Text("metrics: none yet", style="dim")
        table = Table(title="final metrics", title_justify="left", box=None, padding=(0, 2),
                      title_style="bold")
        table.add_column("metric")
        table.add_column(f"run {d.left.id}", justify="right")
        table.add_column(f"run {d.right.id}", justify="right")
        table.add_column("delta", justify="right")
        for key, a, b, delta in d.metrics:
            shown = "" if delta is None else (("+" if delta > 0 else "") + formatting.number(delta))
            table.add_row(plain(key), _show(a), _show(b), shown)
        return table

    def _code(self):
        d = self.diff
        title = Text("code", style="bold")
        if d.left.snapshot == d.right.snapshot:
            return Group(title, Text("the same snapshot", style="dim"))
        if d.problem:
            return Group(title, Text(d.problem, style="dim"))
        theme = self.app.current_theme
        plus, minus, hunk = (rich_colour(c or theme.primary) for c in
                             (theme.success, theme.error, theme.secondary))
        lines = [title]
        for change in d.files:
            lines.append(Text(f"{change.status:8} {plain(change.path)}"
                              + (f"  ({change.note})" if change.note else ""), style="bold"))
            for line in change.lines:
                style = plus if line.startswith("+") else minus if line.startswith("-") \
                    else hunk if line.startswith("@@") else ""
                lines.append(Text(plain(line), style=style, no_wrap=True))
        if d.truncated:
            lines.append(Text("… the diff goes on; compare the run folders for the rest",
                              style="dim"))
        if not d.files:
            lines.append(Text("no file differs", style="dim"))
        return Group(*lines)

    def action_scroll(self, lines: int) -> None:
        self.query_one("#diff-body", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_dismiss_dialog(self) -> None:
        self.dismiss(None)
