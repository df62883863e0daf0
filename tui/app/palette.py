"""The command palette (`:`): every action of the app by name, plus sort by any column, group,
theme, chart metric, log scale, smoothing and resetting the view."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.app import keys
from tui.runlist import order as run_order
from tui.runlist.columns import plain


def commands(app, screen) -> list[tuple[str, str, Callable[[], object]]]:
    """(name, help, callable) for everything the palette offers on `screen`."""
    out: list[tuple[str, str, Callable[[], object]]] = []
    for scope in ("main", "app"):
        for key in keys.TABLE[scope]:
            if key.action in ("command_palette",):
                continue
            if scope == "main" and not hasattr(screen, "sort_by"):
                continue
            target = app if scope == "app" else screen
            out.append((key.description, f"key {keys.display(app.keys_in_force(key))}",
                        partial(app.run_action, key.action, target)))
    if hasattr(screen, "sort_by"):
        for column, what in screen.sort_choices():
            out.append((f"sort by {plain(column)}", what, partial(screen.sort_by, column)))
        for name in run_order.GROUPINGS:
            out.append((f"group by {name}", "", partial(screen.group_by, name)))
        out.append(("unmark all runs", "", screen.table.unmark_all))
        out.append(("reset the view (sort, filter, columns, folds)", "", screen.reset_view))
        for metric in screen.chart.metric_names():
            out.append((f"chart metric {plain(metric)}", "", partial(screen.chart_metric, metric)))
        chart = screen.chart
        out.append(("chart: log scale on / off", "key L", chart.action_toggle_log))
        out.append(("chart: smoothing on / off", "key W", chart.action_toggle_smooth))
    for theme in sorted(app.available_themes):
        if not theme.startswith("textual-"):
            out.append((f"theme {theme}", "", partial(setattr, app, "theme", theme)))
    return out


class RunyardCommands(Provider):
    async def discover(self) -> Hits:
        for name, help_text, callback in commands(self.app, self.screen):
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in commands(self.app, self.screen):
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
