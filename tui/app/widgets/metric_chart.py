"""A chart of one metric against step: the selected run, with the marked runs overlaid.

Drawn with plotext (imported on first use: it costs 0.15 s), in the theme's colours, or
in none under NO_COLOR. The legend is the first line, so the plot itself stays clear.
"""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.color import Color
from textual.message import Message
from textual.widget import Widget

from tui.app import keys
from tui.runlist.columns import plain
from tui.runlist.rows import RunRow
from tui.app.themes import rich_colour

MAX_RUNS = 8
_ANSI_SEQUENCE = (4, 3, 2, 5, 6, 1, 12, 11)       # the terminal's own palette


class MetricChart(Widget, can_focus=True):
    BINDINGS = keys.bindings("chart")
    DEFAULT_CSS = "MetricChart { height: 1fr; }"

    class Back(Message):
        pass

    def __init__(self, series: Callable[[int, str], list], id: str | None = None) -> None:
        super().__init__(id=id)
        self.series = series                  # (run id, metric) -> [[step, value], ...]
        self.run: RunRow | None = None
        self.overlays: list[RunRow] = []
        self.metric: str | None = None
        self.preferred: str | None = None     # the metric the user chose, kept across runs
        self._cache: tuple | None = None

    def show(self, run: RunRow | None, overlays: list[RunRow], default: str | None) -> None:
        self.run = run
        self.overlays = [r for r in overlays if run is None or r.id != run.id][:MAX_RUNS - 1]
        names = self.metric_names()
        wanted = self.preferred or default
        self.metric = wanted if wanted in names else (names[0] if names else None)
        self.refresh()

    def metric_names(self) -> list[str]:
        if self.run is None:
            return []
        return sorted(k for k in self.run.metrics if k != "step")

    def action_metric(self, step: int) -> None:
        names = self.metric_names()
        if not names:
            return
        index = names.index(self.metric) if self.metric in names else -1
        self.metric = self.preferred = names[(index + step) % len(names)]
        self.refresh()

    def action_back(self) -> None:
        self.post_message(self.Back())

    # ------------------------------------------------------------ drawing

    def render(self) -> Text:
        if self.run is None:
            return Text("no run selected", style="italic")
        if self.metric is None:
            return Text(f"run {self.run.id} has no metrics yet", style="italic")
        runs = [self.run, *self.overlays]
        key = (tuple((r.id, r.signature) for r in runs), self.metric, self.size,
               self.app.theme, self.app.no_color)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        text = self._draw(runs, self.metric)
        self._cache = (key, text)
        return text

    def _draw(self, runs: list[RunRow], metric: str) -> Text:
        import plotext       # lazy: ~100 ms the app's start skips until a chart is drawn
        width, height = self.size.width, self.size.height
        colours = self._colours(len(runs))
        legend = Text(no_wrap=True, overflow="ellipsis")
        legend.append(plain(metric), "bold")
        figure = plotext.figure
        figure.clear()
        figure.plot_size(max(20, width), max(5, height - 1))
        text_colour, sequence = self._plot_colours(colours)
        plotext.add_theme("runyard", text=text_colour, sequence=sequence)
        figure.theme("colorless" if self.app.no_color else "runyard")
        figure.legend(False)
        drawn = 0
        for run, colour in zip(runs, colours):
            points = [(s, v) for s, v in self.series(run.id, metric) if v == v]
            legend.append("  ■ " if colour else "  · ", colour or "")
            legend.append(f"{run.id} {plain(run.name)}")
            if not points:
                continue
            points = _thin(points, 2 * width)
            signal = figure.signal([p[0] for p in points], [p[1] for p in points],
                                   marker="braille")
            signal.lines()
            figure.draw(signal)
            drawn += 1
        if not drawn:
            return legend + Text("\nno points yet", style="italic")
        chart = Text.from_ansi(figure.build().string(), no_wrap=True)
        chart.rstrip()
        return Text("\n").join([legend, chart])

    def _colours(self, count: int) -> list[str | None]:
        if self.app.no_color:
            return [None] * count
        theme = self.app.current_theme
        names = [theme.primary, theme.accent, theme.success, theme.warning, theme.error,
                 theme.secondary, theme.primary, theme.accent]
        return [rich_colour(n or theme.primary) for n in names[:count]]

    def _plot_colours(self, colours: list[str | None]):
        theme = self.app.current_theme
        if self.app.no_color:
            return None, None
        if theme.ansi:
            return None, list(_ANSI_SEQUENCE[:len(colours)]) or None
        foreground = Color.parse(theme.foreground or "#c0c0c0").rgb
        return foreground, [Color.parse(c).rgb for c in colours if c] or None


def _thin(points: list[tuple], limit: int) -> list[tuple]:
    """At most `limit` points, evenly taken, always keeping the last."""
    if len(points) <= limit:
        return points
    stride = len(points) / limit
    kept = [points[int(i * stride)] for i in range(limit - 1)]
    kept.append(points[-1])
    return kept
