"""Plain-text formatting shared by the CLI and the app: durations, sizes, tables, params."""

from __future__ import annotations

import time
from collections.abc import Collection


# State glyphs for the CLI and the app: plain characters every terminal font has.
STATE_GLYPHS = {"queued": "·", "running": "▶", "succeeded": "✓", "failed": "✗",
                "cancelled": "⊘", "stopped": "■", "lost": "?"}


def duration(seconds: float | None) -> str:
    """`75.2` -> `1:15`, `3725` -> `1:02:05`; None -> `-`."""
    if seconds is None:
        return "-"
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def elapsed(started_at: str | None, finished_at: str | None, now: float | None = None) -> float | None:
    from core.models import epoch_from_iso     # lazy: ~11 ms `tui status --json` skips
    start = epoch_from_iso(started_at)
    if start is None:
        return None
    end = epoch_from_iso(finished_at) or (now if now is not None else time.time())
    return end - start


def size(num: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num < 1000 or unit == "TB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1000
    return f"{num:.1f} TB"


def number(value) -> str:
    """A metric value, short: 0.312345 -> 0.3123, 12345.6 -> 1.235e+04."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "nan"
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"
    return f"{value:.3e}"


def reason_beside(state: str, reason: str) -> str:
    """A run's reason as said after its state: `cancelled (received SIGTERM)` beside the
    state `cancelled` says only `received SIGTERM`, not the state twice."""
    if reason == state:
        return ""
    if reason.startswith(state + " "):
        rest = reason[len(state) + 1:]
        return rest[1:-1] if rest.startswith("(") and rest.endswith(")") else rest
    return reason


def varying_params(param_sets: list[dict]) -> list[str]:
    """The param names whose values differ between runs (all of them for a single run)."""
    if len(param_sets) <= 1:
        return sorted({k for params in param_sets for k in params})
    keys = sorted({k for params in param_sets for k in params})
    missing = object()
    return [k for k in keys if len({repr(p.get(k, missing)) for p in param_sets}) > 1]


def table(headers: list[str], rows: list[list[str]], right: Collection[int] = ()) -> str:
    """Aligned columns; cells are made terminal-safe (a name or param may hold escapes)."""
    from core.textsafe import inline    # lazy: ~2 ms `tui status --json` skips
    rows = [[inline(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells):
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                 for i, c in enumerate(cells)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def decimal_parts(text: str) -> tuple[str, str]:
    """`12.35` -> (`12`, `.35`), `1.2e+04` -> (`1`, `.2e+04`), `nan` -> (`nan`, ``)."""
    point = text.find(".")
    if point < 0:
        exponent = text.find("e")
        point = exponent if exponent > 0 else len(text)
    return text[:point], text[point:]


def decimal_widths(texts) -> tuple[int, int]:
    """The widths left of the decimal point and from it on, over several numbers."""
    left = right = 0
    for text in texts:
        whole, rest = decimal_parts(text)
        left, right = max(left, len(whole)), max(right, len(rest))
    return left, right


def align_decimal(text: str, left: int, right: int) -> str:
    """A number padded so that numbers with the same widths line up on the decimal point."""
    whole, rest = decimal_parts(text)
    return " " * max(0, left - len(whole)) + text + " " * max(0, right - len(rest))


def compact(value: float) -> str:
    """An axis label: integers as integers (`40`, `1.2k`, `3M`), others short (`0.25`)."""
    if value != value:
        return "nan"
    if float(value).is_integer():
        magnitude = abs(value)
        for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if magnitude >= limit:
                return f"{value / limit:.3g}{suffix}"
        return str(int(value))
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    return f"{value:.2g}"
