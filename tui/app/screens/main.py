"""The main screen: the run list, and the selected run's log and metrics beside or below it.

A wide and tall terminal (140x36 and up) shows the log and the chart together, stacked
beside the list; a smaller one shows one of them at a time (`tab`, `enter`, `M` switch).

It polls the store twice a second (cheaply, see tui.runlist.store_watch) and passes changed rows
to the list, which repaints only those. What the keys do to runs (clone, edit, rerun,
cancel, new, diff) is in tui.app.run_actions.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from core.store import queries as run_queries
from core.models import RunState
from tui import formatting
from tui.app import keys
from tui.runlist import order as run_order
from tui.formatting import STATE_GLYPHS
from tui.runlist.columns import params_text, plain, target_text
from tui.runlist.filters import parse as parse_filter
from tui.runlist.rows import RunRow
from tui.app.run_actions import RunActions
from tui.app.widgets.log_view import LogView
from tui.app.widgets.metric_chart import MetricChart
from tui.app.widgets.prompt_bar import PromptBar
from tui.app.widgets.run_table import RunTable

POLL_SECONDS = 0.5
FIRST_SCREEN_RUNS = 500          # read before the first paint; the rest in a worker
PANES = ("runs", "log", "chart")


class MainScreen(RunActions, Screen):
    BINDINGS = keys.bindings("main")
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]

    def __init__(self) -> None:
        super().__init__(id="main")
        self._log_status = ""

    def compose(self) -> ComposeResult:
        app = self.app
        yield Static(id="summary", markup=False)
        with Container(id="body"):
            yield RunTable(clock=app.clock, sparks=app.store.spark_values,
                           main_metric=app.settings.main_metric, id="runs")
            with Vertical(id="detail"):
                yield Static(id="detail-header", markup=False)
                with Vertical(id="panes", classes="-log"):
                    yield LogView(id="log")
                    yield MetricChart(self._series, id="chart")
                yield PromptBar("search the log (enter: find · esc: close)", id="log-search")
        yield PromptBar("filter: text, running, tag:T, target:T, lr<0.01 "
                        "(enter: keep · esc: clear)", id="filter")
        yield Footer()

    @property
    def table(self) -> RunTable:
        return self.query_one(RunTable)

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    @property
    def chart(self) -> MetricChart:
        return self.query_one(MetricChart)

    def on_mount(self) -> None:
        rows = self.app.store.load_recent(FIRST_SCREEN_RUNS)
        self.table.set_rows(rows)
        if len(rows) == FIRST_SCREEN_RUNS:              # after the first paint
            store = self.app.store
            self.call_after_refresh(self.app.in_thread, "load-runs",
                                    lambda: store.read_older(rows[0].id),
                                    self._older_loaded, "store")
        self.table.set_gpu_figures(self.app.store.gpu_figures())
        self.table.focus()
        self.set_interval(POLL_SECONDS, self.poll, name="store-poll")
        self.set_interval(1.0, self._tick, name="elapsed-clock")
        self._summary()

    def _tick(self) -> None:
        self.table.tick()
        current = self.table.current
        if current is not None and current.state is RunState.RUNNING:
            self._detail_header(current)

    def _older_loaded(self, rows: list[RunRow]) -> None:
        self.table.add_older(rows)
        self._summary()

    # ------------------------------------------------------------ watching the store

    def poll(self) -> None:
        table = self.table
        rows = self.app.store.changed([r.id for r in table.rows.values() if r.active])
        if rows is None:
            return
        table.set_gpu_figures(self.app.store.gpu_figures())
        if self.app.store.removed:                       # `tui rm` from another terminal
            table.remove_rows(self.app.store.removed)
            self.app.store.removed = []
            self._summary()
        changes = table.update_rows(rows)
        current = table.current
        self.app.runs_ended([after for before, after in changes
                             if before is not None and before.active and after.state.terminal])
        touched = {after.id for _, after in changes}
        if (current is not None and current.id in touched) or touched & table.marked:
            self._show_detail(table.current, reload_log=False)
        if changes:
            self._summary()

    def _series(self, run_id: int, metric: str) -> list:
        if self.app.store.conn is None:
            return []
        return run_queries.metric_series(self.app.store.conn, run_id, [metric]).get(metric, [])

    # ------------------------------------------------------------ selection

    def on_run_table_highlighted(self, event: RunTable.Highlighted) -> None:
        self._show_detail(event.row, reload_log=True)

    def _show_detail(self, row: RunRow | None, reload_log: bool) -> None:
        if reload_log:
            self.log_view.show(self.app.paths.output_log(row.id) if row else None)
        self.chart.show(row, self.table.marked_rows, self.table.metric)
        self._detail_header(row)

    def _detail_header(self, row: RunRow | None) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if row is not None:
            text.append(f"{STATE_GLYPHS[row.state]} run {row.id} {plain(row.name)}", "bold")
            took = formatting.duration(row.elapsed(self.app.clock()))
            text.append(f" · {row.state.value}" + (f" {took}" if row.started else ""), "")
            if row.reason and row.state is not RunState.SUCCEEDED:
                text.append(f" ({plain(row.reason)})")
            if row.detail:                       # Slurm: "job 812 pending (Priority)"
                text.append(f" · {plain(row.detail)}")
            text.append(f" · {target_text(row)}")
            if row.parent is not None:
                text.append(f" · from {row.parent}")
            shown = params_text(row, sorted(row.params))
            if shown:
                text.append(f" · {shown}")
        if self._log_status and self._log_status != "no output yet":
            text.append(f"  │ {self._log_status}", "dim")
        self.query_one("#detail-header", Static).update(text)

    def on_log_view_status(self, event: LogView.Status) -> None:
        self._log_status = event.text
        self._detail_header(self.table.current)

    def _summary(self) -> None:
        counts: dict[RunState, int] = {}
        for row in self.table.rows.values():
            counts[row.state] = counts.get(row.state, 0) + 1
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("runyard ", "bold")
        parts = [f"{STATE_GLYPHS[s]}{counts[s]} {s.value}" for s in
                 (RunState.RUNNING, RunState.QUEUED, RunState.FAILED, RunState.LOST,
                  RunState.STOPPED)
                 if counts.get(s)]
        done = counts.get(RunState.SUCCEEDED, 0) + counts.get(RunState.CANCELLED, 0)
        parts.append(f"{done} done")
        text.append("  ".join(parts))
        table = self.table
        extra = []
        if not table.filter.empty:
            extra.append(f"/{table.filter.text} ({len(table.shown)} shown)")
        if table.marked:
            extra.append(f"{len(table.marked)} marked")
        extra.append(f"sort {table.sort_column}{'↓' if table.reverse else '↑'}")
        if table.grouping != next(iter(run_order.GROUPINGS)):       # not the default
            extra.append(f"group {table.grouping}")
        text.append("   " + " · ".join(extra), "dim")
        self.query_one("#summary", Static).update(text)

    # ------------------------------------------------------------ panes and focus

    def _focus_pane(self, pane: str) -> None:
        if pane == "runs":
            self.table.focus()
            return
        panes = self.query_one("#panes")
        panes.set_class(pane == "log", "-log")
        panes.set_class(pane == "chart", "-chart")
        (self.log_view if pane == "log" else self.chart).focus()

    def _current_pane(self) -> str:
        focused = self.focused
        if isinstance(focused, LogView):
            return "log"
        if isinstance(focused, MetricChart):
            return "chart"
        return "runs"

    def action_next_pane(self) -> None:
        self._focus_pane(PANES[(PANES.index(self._current_pane()) + 1) % len(PANES)])

    def action_previous_pane(self) -> None:
        self._focus_pane(PANES[(PANES.index(self._current_pane()) - 1) % len(PANES)])

    def action_show_metrics(self) -> None:
        self._focus_pane("chart")

    def on_run_table_activated(self, event: RunTable.Activated) -> None:
        self._focus_pane("log")

    def on_log_view_back(self, event: LogView.Back) -> None:
        self.table.focus()

    def on_metric_chart_back(self, event: MetricChart.Back) -> None:
        self.table.focus()

    # ------------------------------------------------------------ filter, sort, group

    def action_filter(self) -> None:
        self.query_one("#filter", PromptBar).open(self.table.filter.text)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.table.set_filter(parse_filter(event.value))
            self._summary()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        bar = event.input
        if not isinstance(bar, PromptBar):
            return
        bar.close()
        if bar.id == "log-search":
            if event.value.strip():
                self.log_view.search(event.value.strip())
            self._focus_pane("log")
        else:
            self.table.focus()

    def on_prompt_bar_cancelled(self, event: PromptBar.Cancelled) -> None:
        event.bar.close()
        if event.bar.id == "filter":
            self.table.set_filter(parse_filter(""))
            self._summary()
            self.table.focus()
        else:
            self._focus_pane("log")

    def on_log_view_search_requested(self, event: LogView.SearchRequested) -> None:
        self.query_one("#log-search", PromptBar).open(self.log_view.search_text)

    def action_sort_next(self) -> None:
        sorts = run_order.SORTS
        column = sorts[(sorts.index(self.table.sort_column) + 1) % len(sorts)]
        self.sort_by(column)

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = column in ("id", "elapsed", "gpu")
        self.table.set_sort(column, reverse)
        self._summary()

    def action_sort_reverse(self) -> None:
        self.table.set_sort(self.table.sort_column, not self.table.reverse)
        self._summary()

    def action_group_next(self) -> None:
        names = list(run_order.GROUPINGS)
        self.group_by(names[(names.index(self.table.grouping) + 1) % len(names)])

    def group_by(self, name: str) -> None:
        self.table.set_grouping(name)
        self._summary()

    def on_run_table_marks_changed(self, event: RunTable.MarksChanged) -> None:
        self._summary()
        self.chart.show(self.table.current, self.table.marked_rows, self.table.metric)

    def chart_metric(self, metric: str) -> None:
        self.chart.preferred = metric
        self.chart.show(self.table.current, self.table.marked_rows, self.table.metric)
        self._focus_pane("chart")
