"""A chart of one metric against step, for one run with others overlaid (the marked runs, or
every run of the compare view).

Drawn with plotext (imported on first use: it costs 0.15 s) across the whole width of the
pane. Each curve has the theme's colour and its entry in the legend, the first six drawn
finely (braille), later ones with a marker as well, so colour and marker together tell
apart 78 curves; without colour (NO_COLOR) each has its own marker (`•`, `x`, `+`...),
named in the legend, and the chart sends no colour codes at all. Steps read as integers (`1.2k`). `L` switches a
log scale, `W` smoothing (an exponential average, as TensorBoard's); the best point of
all curves (lower for loss-like names) is marked `★`.
"""

from __future__ import annotations

import math
from typing import Callable

from rich.text import Text
from textual.color import Color
from textual.message import Message
from textual.widget import Widget

from tui import formatting
from tui.app import keys
from tui.app.themes import rich_colour
from tui.runlist import curves
from tui.runlist.columns import plain
from tui.runlist.results import Better
from tui.runlist.rows import RunRow

MAX_OVERLAYS = 11                   # the main pane: the selected run and up to 11 marked
_ANSI_SEQUENCE = (4, 3, 2, 5, 6, 1, 12, 11, 10, 13, 14, 9)       # the terminal's own palette
FRAME_ROWS = 3                      # plotext's frame: top, bottom and the step labels
PALETTE_SIZE = 6                    # theme colours for curves; past them, markers as well


class MetricChart(Widget, can_focus=True):
    BINDINGS = keys.bindings("chart")
    DEFAULT_CSS = "MetricChart { height: 1fr; }"

    class Back(Message):
        pass

    class Changed(Message):
        """The metric or a toggle changed (the screen remembers the metric)."""

    def __init__(self, curves_of: Callable[[list[int], str, bool], dict[int, list]],
                 better: Better = Better(), id: str | None = None) -> None:
        super().__init__(id=id)
        self.curves_of = curves_of     # (run ids, metric, positive) -> {id: [(step, value)]}
        self.better = better
        self.runs: list[RunRow] = []
        self.metric: str | None = None
        self.preferred: str | None = None     # the metric the user chose, kept across runs
        self.log_scale = False
        self.smoothing = False
        self._cache: tuple | None = None
        self._points: tuple | None = None     # (key, each run's prepared points)

    @property
    def run(self) -> RunRow | None:
        return self.runs[0] if self.runs else None

    def show(self, run: RunRow | None, overlays: list[RunRow], default: str | None,
             limit: int | None = MAX_OVERLAYS) -> None:
        """Chart `run` with `overlays` (marked runs) on it, in `default` unless chosen."""
        others = [r for r in overlays if run is None or r.id != run.id]
        self.runs = ([run] if run is not None else []) + \
            (others[:limit] if limit is not None else others)
        names = self.metric_names()
        wanted = self.preferred or default
        self.metric = wanted if wanted in names else (names[0] if names else None)
        self.refresh()

    def metric_names(self) -> list[str]:
        return sorted({k for r in self.runs for k in r.metrics if k != "step"})

    def action_metric(self, step: int) -> None:
        names = self.metric_names()
        if not names:
            return
        index = names.index(self.metric) if self.metric in names else -1
        self.metric = self.preferred = names[(index + step) % len(names)]
        self.refresh()
        self.post_message(self.Changed())

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        self.refresh()
        self.post_message(self.Changed())

    def action_toggle_smooth(self) -> None:
        self.smoothing = not self.smoothing
        self.refresh()
        self.post_message(self.Changed())

    def action_back(self) -> None:
        self.post_message(self.Back())

    # ------------------------------------------------------------ drawing

    def render(self) -> Text:
        if not self.runs:
            return Text("no run selected", style="italic")
        metric = self.metric
        if metric is None:
            return Text(f"run {self.runs[0].id} has no metrics yet", style="italic")
        if self.size.width < 10 or self.size.height < 3:
            return Text("")                   # not laid out yet: nothing worth reading
        key = (tuple((r.id, r.signature) for r in self.runs), self.metric, self.size,
               self.app.theme, self.app.no_color, self.log_scale, self.smoothing)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        text = self._draw(metric)
        self._cache = (key, text)
        return text

    def _series(self, width: int, metric: str) -> list[list[tuple]]:
        """Each run's drawable points (log, smoothing applied), thinned to the width. The
        points are read and prepared once per runs, metric and toggles; a new size only
        thins them again (50 runs x 10,000 points are read in about 0.4 s)."""
        key = (tuple((r.id, r.signature) for r in self.runs), metric, self.log_scale,
               self.smoothing)
        if self._points is None or self._points[0] != key:
            found = self.curves_of([r.id for r in self.runs], metric, self.log_scale)
            prepared = []
            for run in self.runs:
                points = found.get(run.id, [])       # drawable: no NaN, none <= 0 if log
                if self.smoothing:
                    points = curves.smooth(points)
                if self.log_scale:
                    points = [(s, math.log10(v)) for s, v in points]
                prepared.append(points)
            self._points = (key, prepared)
        return [curves.thin(points, 2 * width) for points in self._points[1]]

    def _draw(self, metric: str) -> Text:
        width, height = self.content_size.width, self.content_size.height
        no_color = self.app.no_color
        colours = self._colours(len(self.runs))
        series = self._series(width, metric)
        lower = self.better.lower(metric)
        best = curves.best_point(series, lower)
        legend = self._legend(colours, series, best, width, metric)
        if not any(series):
            return legend + Text("\nno points yet", style="italic")
        rows = max(4, height - len(legend.split()) )
        chart = self._plot(series, colours, best, width, rows)
        if no_color:
            chart = Text(chart.plain, no_wrap=True)
        return Text("\n").join([legend, chart])

    def _legend(self, colours, series, best, width: int, metric: str) -> Text:
        """The metric, the toggles in force, the best point, and one entry per curve
        (its colour, or its marker without colour), wrapped to the width."""
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(plain(metric), "bold")
        for word, on in (("log scale", self.log_scale), ("smoothed", self.smoothing)):
            if on:
                head.append(f" · {word}")
        if best is not None:
            index, (step, value) = best
            shown = 10 ** value if self.log_scale else value
            head.append(f" · {curves.BEST_MARKER} best {formatting.number(shown)} "
                        f"(run {self.runs[index].id}, step {formatting.compact(step)})")
        lines = [head]
        line = Text(no_wrap=True, overflow="ellipsis")
        for i, (run, colour) in enumerate(zip(self.runs, colours)):
            entry = Text()
            marker = curves.marker(i, colour is not None, PALETTE_SIZE)
            entry.append("■" if marker == "braille" else marker, colour or "")
            entry.append(f" {run.id} {plain(run.name)}" + ("" if series[i] else " (no points)"))
            if line.cell_len and line.cell_len + 2 + entry.cell_len > width:
                lines.append(line)
                line = Text(no_wrap=True, overflow="ellipsis")
            if line.cell_len:
                line.append("  ")
            line.append_text(entry)
        lines.append(line)
        return Text("\n").join(lines)

    def _plot(self, series, colours, best, width: int, rows: int) -> Text:
        import plotext              # lazy: ~100 ms, only when a chart is first drawn
        plotext.terminal.limit(False, False)     # the pane's size, not the terminal's, rules
        figure = plotext.figure
        figure.clear()
        figure.plot_size(max(20, width), max(4, rows))
        text_colour, sequence = self._plot_colours(colours)
        plotext.add_theme("runyard", text=text_colour, sequence=sequence)
        figure.theme("colorless" if self.app.no_color else "runyard")
        figure.legend(False)
        for i, points in enumerate(series):
            if not points:
                continue
            marker = curves.marker(i, colours[i] is not None, PALETTE_SIZE)
            signal = figure.signal([p[0] for p in points], [p[1] for p in points],
                                   marker=marker)
            signal.lines()
            figure.draw(signal)
        if best is not None:
            step, value = best[1]
            figure.draw(figure.text(step, value, curves.BEST_MARKER))
        self._ticks(figure, series, width, rows)
        chart = Text.from_ansi(figure.build().string(), no_wrap=True)
        chart.rstrip()
        return chart

    def _ticks(self, figure, series, width: int, rows: int) -> None:
        steps = [p[0] for points in series for p in points]
        values = [p[1] for points in series for p in points]
        first, last = min(steps), max(steps)
        x_ticks = curves.nice_ticks(first, last, max(2, width // 14),
                                    integer=curves.integer_steps(steps))
        if last > first:
            figure.ruler(0).lim(first, last)
        figure.ruler(0).ticks(x_ticks, [formatting.compact(t) for t in x_ticks])
        low, high = min(values), max(values)
        if high == low:
            low, high = low - 0.5, high + 0.5
        figure.ruler(1).lim(low, high)        # with explicit ticks plotext needs the limits
        count = max(2, (rows - FRAME_ROWS) // 3)
        if self.log_scale:
            y_ticks = curves.log_ticks(low, high, count)
            labels = [formatting.compact(10 ** t) for t in y_ticks]
        else:
            y_ticks = curves.nice_ticks(low, high, count)
            labels = [formatting.compact(t) for t in y_ticks]
        if y_ticks:
            figure.ruler(1).ticks(y_ticks, labels)

    def _colours(self, count: int) -> list[str | None]:
        if self.app.no_color:
            return [None] * count
        theme = self.app.current_theme
        names = [theme.primary, theme.accent, theme.success, theme.warning, theme.error,
                 theme.secondary][:PALETTE_SIZE]
        return [rich_colour(names[i % len(names)] or theme.primary) for i in range(count)]

    def _plot_colours(self, colours: list[str | None]):
        theme = self.app.current_theme
        if self.app.no_color:
            return None, None
        if theme.ansi:
            return None, [_ANSI_SEQUENCE[i % len(_ANSI_SEQUENCE)]
                          for i in range(len(colours))] or None
        foreground = Color.parse(theme.foreground or "#c0c0c0").rgb
        return foreground, [Color.parse(c).rgb for c in colours if c] or None
