"""The arithmetic of metric charts, apart from drawing: thinning, smoothing, log scale, the
best point, and axis ticks that read (`1.2k` steps, not `1.2e3`)."""

from __future__ import annotations

import math

# Without colour, curves are told apart by these markers (and named so in the legend).
MARKERS = ("•", "x", "+", "o", "#", "%", "=", "@", "&", "$", "~", "^")
BEST_MARKER = "★"
SMOOTHING = 0.6          # weight of the running average when smoothing is on (as TensorBoard)


def marker(index: int, coloured: bool, colours: int) -> str:
    """The marker of the index-th curve: with colour, braille (fine lines) for the first
    `colours` curves, then a marker per round of colours; without colour, a marker each."""
    if not coloured:
        return MARKERS[index % len(MARKERS)]
    if index < colours:
        return "braille"
    return MARKERS[(index // colours - 1) % len(MARKERS)]


def thin(points: list[tuple], limit: int) -> list[tuple]:
    """At most `limit` points, evenly taken, always keeping the first and the last."""
    if len(points) <= limit or limit < 2:
        return points
    stride = (len(points) - 1) / (limit - 1)
    return [points[round(i * stride)] for i in range(limit)]


def smooth(points: list[tuple], weight: float = SMOOTHING) -> list[tuple]:
    """An exponential moving average with the start-up bias corrected, like TensorBoard's."""
    out, average, norm = [], 0.0, 0.0
    for step, value in points:
        average = average * weight + (1 - weight) * value
        norm = norm * weight + (1 - weight)
        out.append((step, average / norm))
    return out


def best_point(curves: list[list[tuple]], lower: bool) -> tuple[int, tuple] | None:
    """(index of the curve, (step, value)) of the best value over all curves."""
    best = None
    for index, points in enumerate(curves):
        for step, value in points:
            if best is None or (value < best[1][1] if lower else value > best[1][1]):
                best = (index, (step, value))
    return best


def nice_ticks(low: float, high: float, count: int, integer: bool = False) -> list[float]:
    """Round tick positions in [low, high] (steps of 1, 2, 2.5 or 5 times a power of ten),
    as close to `count` of them as such steps allow, and at least two when the range has
    room for them; with `integer` (steps of a run), only whole numbers."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    count = max(2, count)
    power = 10 ** math.floor(math.log10((high - low) / count))
    best: list[float] = []
    for step in (m * power * scale for scale in (1, 10) for m in (1, 2, 2.5, 5)):
        if integer and not float(step).is_integer():
            continue
        ticks = _ticks_at(low, high, step)
        if len(ticks) >= 2 and (not best or abs(len(ticks) - count) < abs(len(best) - count)):
            best = ticks
    return best or [low, high]


def _ticks_at(low: float, high: float, step: float) -> list[float]:
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [0.0 if i == 0 else i * step for i in range(first, last + 1)]


def log_ticks(low: float, high: float, count: int) -> list[float]:
    """Tick positions in log10 space: whole decades when the range spans some, else round
    values between."""
    decades = [float(d) for d in range(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1)]
    if len(decades) >= 2:
        every = max(1, math.ceil(len(decades) / max(1, count)))
        return decades[::every]
    return [math.log10(v) for v in nice_ticks(10 ** low, 10 ** high, count) if v > 0]


def integer_steps(steps) -> bool:
    return all(float(s).is_integer() for s in steps)
