"""What the main screen's view keys do: filter, sort, columns, groups, compare, and saving
the view (tui.app.view_state) so the app opens as it was left in this project."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Input

from tui.app import view_state
from tui.app.dialogs import if_given
from tui.app.widgets.metric_chart import MetricChart
from tui.app.widgets.prompt_bar import PromptBar
from tui.app.widgets.run_table import RunTable
from tui.runlist import order as run_order
from tui.runlist import results
from tui.runlist.filters import parse as parse_filter

if TYPE_CHECKING:
    from tui.app.screens.main_parts import MainScreenParts as _Screen
else:
    _Screen = object                 # MainScreen gives the rest (main_parts)

# Dialogs and the compare screen are imported when first opened: the app's start-up stays
# as short as Textual's own.


class ViewActions(_Screen):
    """Mixed into MainScreen (which provides `table`, `chart`, `app` and `_summary`)."""

    lower_pane = "log"
    _restoring = False
    _selected_at_start: int | None = None
    _save_timer = None

    # ------------------------------------------------------------ the saved view

    def _view_path(self):
        root = self.app.settings.project_root or "."
        return view_state.path_for(root, self.app.paths.home)

    def restore_view(self) -> None:
        """Apply the view saved for this project (before the rows are set: one rebuild)."""
        path = self._view_path()
        if self.app.reset_view:
            view_state.reset(path)
            return
        state, problem = view_state.load(path)
        if problem:
            self.app.notify(problem, title="view", severity="warning", markup=False)
        table = self.table
        self._restoring = True
        table.filter = parse_filter(state.filter, table.groups)
        table.sort_column, table.reverse = state.sort, state.reverse
        table.choice = state.columns
        table.grouping = state.grouping if state.grouping in run_order.GROUPINGS else "sweep"
        table.folded = {tuple(k) if isinstance(k, list) else k for k in state.folded}
        self.chart.preferred = state.chart_metric
        self._selected_at_start = state.selected
        self._lower_pane(state.pane)
        self._restoring = False
        if state.filter:
            self.query_one("#filter", PromptBar).value = state.filter

    def save_view(self) -> None:
        if self._restoring:
            return
        table = self.table
        state = view_state.ViewState(
            sort=table.sort_column, reverse=table.reverse, filter=table.filter.text,
            columns=table.choice, folded=[list(k) for k in table.folded],
            grouping=table.grouping, chart_metric=self.chart.preferred, pane=self.lower_pane,
            selected=table.current.id if table.current is not None else None)
        try:
            view_state.save(self._view_path(), state)
        except OSError as exc:
            self.app.notify(f"the view could not be saved: {exc.strerror}", severity="warning",
                            markup=False)

    def save_view_soon(self) -> None:
        """Save a second after the last call (the cursor moving: one write when it rests)."""
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(1.0, self.save_view, name="save-view")

    def reset_view(self) -> None:
        """Back to the defaults: sort by id, no filter, default columns, nothing folded."""
        table = self.table
        table.filter = parse_filter("")
        table.sort_column, table.reverse = "id", True
        table.choice, table.grouping, table.folded = None, "sweep", set()
        self.chart.preferred = None
        table.rebuild()
        self._summary()
        view_state.reset(self._view_path())
        self.app.notify("view reset: sort by id, no filter, default columns")

    def on_run_table_view_changed(self, event: RunTable.ViewChanged) -> None:
        self._summary()
        self._detail_header(self.table.current)
        self.chart.show(self.table.current, self.table.marked_rows, self.table.metric)
        self.save_view()

    def on_metric_chart_changed(self, event: MetricChart.Changed) -> None:
        self.save_view()

    # ------------------------------------------------------------ filter

    def action_filter(self) -> None:
        self.query_one("#filter", PromptBar).open(self.table.filter.text)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.table.set_filter(parse_filter(event.value, self.table.groups))
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
            self.save_view()

    def on_prompt_bar_cancelled(self, event: PromptBar.Cancelled) -> None:
        event.bar.close()
        if event.bar.id == "filter":
            self.table.set_filter(parse_filter(""))
            self._summary()
            self.table.focus()
            self.save_view()
        else:
            self._focus_pane("log")

    def on_log_view_search_requested(self, event) -> None:
        self.query_one("#log-search", PromptBar).open(self.log_view.search_text)

    # ------------------------------------------------------------ sort, columns, group

    def sort_choices(self) -> list[tuple[str, str]]:
        """(column, what it is) for every column the list can sort by: the results
        columns shown, the fixed ones, then every other param and metric of the runs."""
        table = self.table
        shown = [(c.name, _describe(c, table.cells)) for c in table.result_columns]
        fixed = [(name, "") for name in run_order.SORTS]
        rows = table.filtered or list(table.rows.values())
        taken = {name for name, _ in shown}
        others = [(k, "param") for k in results.param_keys(rows) if k not in taken]
        others += [(k, _describe(results.ResultColumn("metric", k), table.cells))
                   for k in results.metric_keys(rows) if k not in taken]
        return shown + fixed + others

    def action_sort_pick(self) -> None:
        from tui.app.dialogs.sort_pick import SortDialog  # lazy: see tui.app.run_actions
        self.app.push_screen(SortDialog(self.sort_choices(), self.table.sort_column),
                             if_given(self.sort_by))

    def sort_by(self, column: str, reverse: bool | None = None) -> None:
        """Sort by a column (a metric best first) and select the first run: the best."""
        self.table.set_sort(column, reverse)
        self.table.cursor = 0
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

    def action_choose_columns(self) -> None:
        from tui.app.dialogs.columns import ColumnsDialog  # lazy: see tui.app.run_actions
        table = self.table
        rows = table.filtered or list(table.rows.values())
        self.app.push_screen(
            ColumnsDialog(table.result_columns, results.param_keys(rows),
                          results.metric_keys(rows)),
            self._columns_chosen)

    def _columns_chosen(self, choice) -> None:
        if choice is None:
            return
        self.table.set_columns(None if choice == "defaults" else choice)

    def chart_metric(self, metric: str) -> None:
        self.chart.preferred = metric
        self.chart.show(self.table.current, self.table.marked_rows, self.table.metric)
        self._focus_pane("chart")
        self.save_view()

    # ------------------------------------------------------------ compare

    def action_compare(self) -> None:
        """The marked runs the filter shows, side by side; with none marked, the runs of
        the selected run's sweep."""
        from tui.app.screens.compare import CompareScreen  # lazy: see tui.app.run_actions
        table = self.table
        runs = table.marked_rows
        if not runs and table.current is not None:
            head = table.head_of(table.current)
            runs = list(head.members) if head is not None else []
        if len(runs) < 2:
            self.app.notify("compare: mark runs with space (A marks every run shown), or "
                            "select a run of a sweep", severity="warning")
            return
        metric = self.chart.preferred or table.metric
        self.app.push_screen(CompareScreen(runs, metric, table.better))


def _describe(column: results.ResultColumn, cells: results.Cells) -> str:
    if not column.is_metric:
        return "param"
    way = "higher" if cells.best_first(column) else "lower"
    return f"metric ({column.summary}), {way} is better"
