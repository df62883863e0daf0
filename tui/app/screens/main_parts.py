"""What MainScreen gives the parts it is made of (RunActions, ViewActions): for the type
checker only. Under `TYPE_CHECKING` the parts derive from MainScreenParts, at run time from
object; MainScreen itself provides all of this."""

from __future__ import annotations

from collections.abc import Callable

from textual import getters
from textual.screen import Screen

from tui.app.app import RunyardApp
from tui.app.widgets.log_view import LogView
from tui.app.widgets.metric_chart import MetricChart
from tui.app.widgets.run_table import RunTable
from tui.runlist.rows import RunRow


class MainScreenParts(Screen):
    app = getters.app(RunyardApp)                     # the app's own type, not App[Any]

    @property
    def table(self) -> RunTable:
        return self.query_one(RunTable)

    @property
    def chart(self) -> MetricChart:
        return self.query_one(MetricChart)

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    _summary: Callable[[], None]
    _focus_pane: Callable[[str], None]
    _lower_pane: Callable[[str], None]
    _detail_header: Callable[[RunRow | None], None]
