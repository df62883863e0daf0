"""The main screen: the run list, and the selected run's log and metrics beside or below it.

A wide and tall terminal (140x36 and up) shows the log and the chart together, stacked
beside the list; a smaller one shows one of them at a time (`tab`, `enter`, `M` switch),
and gives the chart two thirds of the height so it keeps at least 8 plot rows at 80x24.

It polls the store twice a second (cheaply, see tui.runlist.store_watch) and passes changed rows
to the list, which repaints only those. What the keys do to runs (clone, edit, rerun,
cancel, new, diff) is in tui.app.run_actions; the view (filter, sort, columns, groups,
compare, and saving it all per project) in tui.app.view_actions.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import Static

from core.models import RunState
from tui import formatting
from tui.app import keys
from tui.app.run_actions import RunActions
from tui.app.view_actions import ViewActions
from tui.app.widgets.key_bar import KeyBar
from tui.app.widgets.log_view import LogView
from tui.app.widgets.metric_chart import MetricChart
from tui.app.widgets.prompt_bar import PromptBar
from tui.app.widgets.run_table import RunTable
from tui.formatting import STATE_GLYPHS
from tui.runlist import order as run_order
from tui.runlist import results
from tui.runlist.columns import params_text, plain, target_text
from tui.runlist.rows import RunRow
from tui.search_text import best_text, counts

POLL_SECONDS = 0.5
FIRST_SCREEN_RUNS = 500          # read before the first paint; the rest in a worker
PANES = ("runs", "log", "chart")


class MainScreen(RunActions, ViewActions, Screen):
    BINDINGS = keys.bindings("main")
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]

    def __init__(self) -> None:
        super().__init__(id="main")
        self._log_status = ""
        self._first_new_id = 1            # runs from this id on were launched while we watch

    def compose(self) -> ComposeResult:
        app = self.app
        better = results.Better.from_config(app.settings.better)
        yield Static(id="summary", markup=False)
        with Container(id="body", classes="-log"):
            yield RunTable(clock=app.clock, sparks=app.store.spark_values,
                           extremes=app.store.extremes, main_metric=app.settings.main_metric,
                           better=better, id="runs")
            with Vertical(id="detail"):
                yield Static(id="detail-header", markup=False)
                with Vertical(id="panes", classes="-log"):
                    yield LogView(id="log")
                    yield MetricChart(app.store.curves, better, id="chart")
                yield PromptBar("search the log (enter: find · esc: close)", id="log-search")
        yield PromptBar("filter: text, running, tag:T, group:G, lr<0.01 "
                        "(enter: keep · esc: clear)", id="filter")
        yield KeyBar(self._current_pane)

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
        store = self.app.store
        rows = store.load_recent(FIRST_SCREEN_RUNS)
        self._first_new_id = (max((r.id for r in rows), default=0)) + 1
        self.table.groups = store.groups()
        self.restore_view()
        self.table.set_rows(rows)
        if self._selected_at_start is not None:
            self.table.select_run(self._selected_at_start)
        if len(rows) == FIRST_SCREEN_RUNS:              # after the first paint
            self.call_after_refresh(self.app.in_thread, "load-runs",
                                    lambda: store.read_older(rows[0].id),
                                    self._older_loaded, "store")
        self.table.set_gpu_figures(store.gpu_figures())
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
        store = self.app.store
        rows = store.changed([r.id for r in table.rows.values() if r.active])
        if rows is None:
            return
        table.set_gpu_figures(store.gpu_figures())
        if store.removed:                               # `tui rm` from another terminal
            table.remove_rows(store.removed)
            store.removed = []
            self._summary()
        if any(r.group is not None and r.group not in table.groups for r in rows):
            table.set_groups(store.groups())            # a new sweep: its name for the filter
        self._searches_moved()
        changes = table.update_rows(rows)
        self.app.runs_ended([after for before, after in changes if self._ended(before, after)
                             and not self._quiet_trial(after)])
        current = table.current
        touched = {after.id for _, after in changes}
        if (current is not None and current.id in touched) or touched & table.marked:
            self._show_detail(table.current, reload_log=False)
        if changes:
            self._summary()

    def _searches_moved(self) -> None:
        """Something was committed: read the searches in progress again (trials done, best
        trial), and toast those that ended."""
        table = self.table
        live = [gid for gid, g in table.groups.items() if "search" in g and
                (g["search"]["state"] == "running" or g["search"]["running"])]
        if not live:
            return
        fresh = self.app.store.groups(live)
        ended = [g for gid, g in fresh.items() if "search" in g and
                 table.groups[gid]["search"]["state"] == "running" and
                 g["search"]["state"] != "running"]
        table.update_groups(fresh)
        current = table.current
        if current is not None and current.group in fresh:
            self._detail_header(current)
        if ended:
            self.app.searches_ended(ended)

    def _quiet_trial(self, row: RunRow) -> bool:
        """A search's trial that succeeded or was pruned is the search's normal work: the
        search's end gets a toast, its trials do not (a failed trial still does)."""
        group = self.table.groups.get(row.group) if row.group is not None else None
        return group is not None and group["kind"] == "search" and \
            (row.state is RunState.SUCCEEDED or row.cause == "pruned")

    def _ended(self, before: RunRow | None, after: RunRow) -> bool:
        """A run that ended since the last look, however fast: one that was active, or one
        launched while the app watched that is first seen already ended (a typo'd command
        exits in 25 ms, before the next poll)."""
        if not after.state.terminal:
            return False
        if before is None:
            return after.id >= self._first_new_id
        return before.active

    # ------------------------------------------------------------ selection

    def on_run_table_highlighted(self, event: RunTable.Highlighted) -> None:
        self._show_detail(event.row, reload_log=True)
        self.save_view_soon()                # the selected run, once the cursor rests

    def _show_detail(self, row: RunRow | None, reload_log: bool) -> None:
        if reload_log:
            self.log_view.show(self.app.paths.output_log(row.id) if row else None)
        self.chart.show(row, self.table.marked_rows, self.table.metric)
        self._detail_header(row)

    def _detail_header(self, row: RunRow | None) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        head = self.table.head_of(row) if row is not None else None
        if row is not None and head is not None and head.folded:
            self._group_header(text, row, head)
        elif not self.table.rows:           # a new store: say how to begin
            text.append("no runs yet: n launches one (or tui launch -- COMMAND)")
        elif row is not None:
            text.append(f"{STATE_GLYPHS[row.state]} run {row.id} {plain(row.name)}", "bold")
            took = formatting.duration(row.elapsed(self.app.clock()))
            text.append(f" · {row.state.value}" + (f" {took}" if row.started else ""), "")
            reason = formatting.reason_beside(row.state.value, row.reason or "")
            if reason and row.state is not RunState.SUCCEEDED:
                text.append(f" ({plain(reason)})")
            if row.detail:                       # Slurm: "job 812 pending (Priority)"
                text.append(f" · {plain(row.detail)}")
            if row.state is RunState.QUEUED and row.waits_for:
                text.append(f" · waits for {row.waits_for}")
            text.append(f" · {target_text(row)}")
            if row.parent is not None:
                text.append(f" · from {row.parent}")
            group = self.table.groups.get(row.group) if row.group is not None else None
            if group is not None and "search" in group:           # a trial: how its search goes
                text.append(f" · search {group['id']} {plain(search_progress(group))}")
            shown = params_text(row, sorted(row.params))
            if shown:
                text.append(f" · {shown}")
        if self._log_status and self._log_status != "no output yet" and self.table.rows:
            text.append(f"  │ {self._log_status}", "dim")
        self.query_one("#detail-header", Static).update(text)

    def _group_header(self, text: Text, row: RunRow, head: run_order.Head) -> None:
        """A folded group: its runs by state, the best value, mean ± sd over seeds; a
        search: its trials done of the budget, in flight, pruned, and its best trial."""
        summary = self.table.summary_of(head)
        group = self.table.groups.get(row.group) if row.group is not None else None
        title = f"{plain(group['name'] or '')} ({group['kind']} {group['id']})" if group \
            else f"runs from {row.id}"
        text.append(f"{STATE_GLYPHS[summary.state]} {title}", "bold")
        if group is not None and "search" in group:
            text.append(" · " + plain(search_progress(group)))
            return
        text.append(f" · {summary.size} runs {summary.counts_text()}")
        if summary.best is not None and self.table.main:
            value, run_id = summary.best
            text.append(f" · best {plain(self.table.main)} {results.cell_text(value)} "
                        f"run {run_id}")
        if summary.seeds and self.table.main in summary.seeds[0].spreads:
            top = summary.seeds[0]
            varying = formatting.varying_params([g.params for g in summary.seeds])
            config = " ".join(f"{k}={results.cell_text(top.params[k])}" for k in varying
                              if k in top.params)
            text.append(f" · over {plain(summary.seed or '')} "
                        f"{top.spreads[self.table.main].text()}"
                        + (f" {plain(config)}" if config else ""))

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
        marked = len(table.marked_rows)
        if marked or table.hidden_marks:
            hidden = table.hidden_marks
            extra.append(("● " f"{marked} marked" + (f" ({hidden} hidden by the filter)"
                                                     if hidden else ""), "bold"))
        if not table.filter.empty:
            extra.append((f"/{table.filter.text} ({len(table.filtered)} shown)", "dim"))
        extra.append((f"sort {plain(table.sort_column)}{'↓' if table.reverse else '↑'}", "dim"))
        if table.grouping != next(iter(run_order.GROUPINGS)):       # not the default
            extra.append((f"group {table.grouping}", "dim"))
        for i, (words, style) in enumerate(extra):
            text.append("   " if i == 0 else " · ", "dim")
            text.append(words, style)
        self.query_one("#summary", Static).update(text)

    # ------------------------------------------------------------ panes and focus

    def _focus_pane(self, pane: str) -> None:
        if pane == "runs":
            self.table.focus()
            return
        self._lower_pane(pane)
        (self.log_view if pane == "log" else self.chart).focus()

    def _lower_pane(self, pane: str) -> None:
        """Show the log or the chart below the list (both, on a wide and tall screen)."""
        for widget in (self.query_one("#panes"), self.query_one("#body")):
            widget.set_class(pane == "log", "-log")
            widget.set_class(pane == "chart", "-chart")
        if pane != self.lower_pane:
            self.lower_pane = pane
            self.save_view()

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

    def on_run_table_marks_changed(self, event: RunTable.MarksChanged) -> None:
        self._summary()
        self.chart.show(self.table.current, self.table.marked_rows, self.table.metric)


def search_progress(group: dict) -> str:
    """`finished 40/40 ▶0 ■12 · best val_loss 0.1234 (run 57)`: a search, in one line."""
    progress = group["search"]
    best = best_text(group, with_params=False)
    return f"{progress['state']} {counts(progress)}" + (f" · {best}" if best else "")
