"""The app under test: made on a test store, waited on without sleeping, its screen read as text."""

from __future__ import annotations

import os

from core.paths import StorePaths
from tests.helpers import Deadline
from tests.tui.fixture_store import T0
from tui.app import settings as app_settings
from tui.app.app import RunyardApp


def make_app(paths: StorePaths, theme: str | None = None, **kwargs) -> RunyardApp:
    settings, problems = app_settings.load(os.getcwd(), theme)
    return RunyardApp(paths, settings, problems, **kwargs)


def demo_app(paths: StorePaths, **kwargs) -> RunyardApp:
    """The app at the fixed time of the demo store, leaving the engine alone."""
    return make_app(paths, clock=lambda: T0, revive_engine=False, **kwargs)


async def until(pilot, predicate, timeout: float = 30.0, what: str = "condition"):
    """tests.helpers.wait_for for Pilot tests: poll while the app keeps running; at the
    deadline the failure also says what the app notified."""
    deadline = Deadline(timeout, what)
    while not (value := predicate()):
        deadline.check(lambda: _notices(pilot.app))
        await pilot.pause(0.05)
    return value


def _notices(app) -> str:
    notices = [n.message for n in app._notifications]
    return f" (the app said: {notices})" if notices else ""


def line_text(widget, y: int) -> str:
    return widget.render_line(y).text


def widget_text(widget) -> str:
    return "\n".join(line_text(widget, y) for y in range(widget.size.height))


def row_text(table, run_id: int) -> str:
    index = table.index_of[run_id]
    row, depth = table.shown[index]
    return table.row_strip(row, depth, False, table.size.width).text
