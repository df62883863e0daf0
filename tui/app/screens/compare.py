"""`C`: any number of runs side by side: the params that differ, each shared metric's last
and best value with the best of each column marked, and their curves overlaid in one chart.

The table is the results table of tui.runlist.results (what `tui compare` prints); the chart
is the run list's MetricChart with every compared run on it (colours, or markers under
NO_COLOR, named in its legend). `j`/`k` change the metric, `L` log scale, `W` smoothing,
`tab` moves between the table and the chart, `escape` or `q` goes back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical
from textual.screen import Screen
from textual.widgets import Static

from tui import formatting
from tui.app import keys

if TYPE_CHECKING:
    from textual import getters

    from tui.app.app import RunyardApp
from tui.app.themes import rich_colour
from tui.app.widgets.key_bar import KeyBar
from tui.app.widgets.metric_chart import MetricChart
from tui.formatting import STATE_GLYPHS
from tui.runlist import groups as run_groups
from tui.runlist import results
from tui.runlist.columns import BEST_MARK, plain
from tui.runlist.rows import RunRow


class CompareScreen(Screen[None]):
    BINDINGS = [*keys.bindings("dialog"), Binding("q", "dismiss_dialog", "close", show=False),
                Binding("tab,shift+tab", "next_pane", "table / chart", show=False)]

    if TYPE_CHECKING:                     # Textual's typed `app` (the import would be a circle)
        app = getters.app(RunyardApp)

    def __init__(self, runs: list[RunRow], metric: str | None,
                 better: results.Better = results.Better()) -> None:
        super().__init__(id="compare")
        self.runs = sorted(runs, key=lambda r: r.id)
        self.metric = metric
        self.better = better

    def compose(self) -> ComposeResult:
        yield Static(Text(f"compare {len(self.runs)} runs: "
                          + ", ".join(str(r.id) for r in self.runs[:12])
                          + (" …" if len(self.runs) > 12 else ""), style="bold"),
                     classes="screen-title")
        with Vertical(id="compare-body"):
            with ScrollableContainer(id="compare-table"):
                yield Static(id="compare-text", markup=False)
            yield MetricChart(self.app.store.curves, self.better, id="compare-chart")
        yield KeyBar(lambda: "compare")

    def on_mount(self) -> None:
        self.query_one("#compare-text", Static).update(self._table_text())
        chart = self.query_one(MetricChart)
        chart.show(self.runs[0], self.runs[1:], self.metric, limit=None)
        chart.focus()

    def columns(self) -> list[results.ResultColumn]:
        """The params that differ, then each shared metric's last and best value."""
        params = [c for c in results.default_columns(self.runs) if not c.is_metric]
        metrics = results.shared_metrics(self.runs) or results.metric_keys(self.runs)
        metrics = [k for k in metrics if k.lower() not in results.COUNTERS]
        return params + [results.ResultColumn("metric", k, s) for k in metrics
                         for s in ("last", "best")]

    def _table_text(self) -> Text:
        columns = self.columns()
        wanted = results.needs_extremes(columns)
        extremes = self.app.store.extremes([r.id for r in self.runs], wanted) if wanted else {}
        cells = results.Cells(extremes, self.better)
        best = results.best_ids(self.runs, columns, cells)
        theme = self.app.current_theme
        accent = Style(bold=True, color=rich_colour(theme.accent or theme.primary))
        headers = ["ID", "NAME", "STATE", *(plain(c.name) for c in columns)]
        grid = [[str(r.id), plain(r.name), f"{STATE_GLYPHS[r.state]} {r.state.value}"]
                for r in self.runs]
        for column in columns:
            values = [cells(r, column) for r in self.runs]
            texts = [plain(results.cell_text(v)) for v in values]
            if results.all_numbers(values):
                left, right = formatting.decimal_widths(t for t in texts if t)
                texts = [formatting.align_decimal(t, left, right) if t else t for t in texts]
            for i, text in enumerate(texts):
                if column.is_metric:
                    text += BEST_MARK if self.runs[i].id in best.get(column.name, ()) else " "
                grid[i].append(text)
        widths = [max([len(h)] + [len(g[j]) for g in grid]) for j, h in enumerate(headers)]
        lines = [Text("  ".join(h.rjust(w) if j == 0 or j > 2 else h.ljust(w)
                                for j, (h, w) in enumerate(zip(headers, widths))),
                      style="bold", no_wrap=True)]
        for i, cells_text in enumerate(grid):
            line = Text(no_wrap=True)
            for j, (text, width) in enumerate(zip(cells_text, widths)):
                if j:
                    line.append("  ")
                shown = text.rjust(width) if j == 0 or j > 2 else text.ljust(width)
                shown_column = columns[j - 3] if j >= 3 else None
                strong = shown_column is not None and \
                    self.runs[i].id in best.get(shown_column.name, ())
                line.append(shown, accent if strong else "")
            lines.append(line)
        lines += self._seed_lines(columns, cells)
        return Text("\n").join(lines)

    def _seed_lines(self, columns, cells) -> list[Text]:
        seed = run_groups.seed_param(self.runs)
        rank = next((c for c in columns if c.is_metric and c.key == self.metric), None) or \
            next((c for c in columns if c.is_metric), None)
        if seed is None or rank is None:
            return []
        lines = [Text(""), Text(f"over {plain(seed)} ({plain(rank.name)}, mean ± sd):",
                            style="bold")]
        groups = run_groups.over_seeds(self.runs, [rank], cells, seed, rank)
        varying = formatting.varying_params([g.params for g in groups])
        for group in groups:
            config = " ".join(f"{k}={results.cell_text(group.params[k])}" for k in varying
                              if k in group.params)
            lines.append(Text(f"  {plain(config) or '-'}: {group.spreads[rank.name].text()} "
                              f"({len(group.run_ids)} run{'s' if len(group.run_ids) != 1 else ''})",
                              no_wrap=True))
        return lines

    def action_next_pane(self) -> None:
        chart = self.query_one(MetricChart)
        (self.query_one("#compare-table") if chart.has_focus else chart).focus()

    def action_dismiss_dialog(self) -> None:
        self.dismiss(None)

    def on_metric_chart_back(self, event: MetricChart.Back) -> None:
        """The chart's escape (back to the list on the main screen) closes the view here."""
        event.stop()
        self.dismiss(None)
