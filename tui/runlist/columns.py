"""The run list's columns: which fit in the width at hand, and the text of each cell.

Columns give way in a fixed order as the pane narrows (GPU figures first, then the parent,
target, params and elapsed time); state, id, name and the main metric always stay, so a
40-column tmux pane still shows a useful list.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.textsafe import clean_line
from tui import formatting
from tui.formatting import STATE_GLYPHS
from tui.runlist.rows import RunRow

SPARKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 6
METRIC_VALUE_WIDTH = 8
GPU_WIDTH = 10
ELAPSED_WIDTH = 7
NAME_MAX = 28
PARAMS_MAX = 48
# First to go when the width is short.
DROP_ORDER = ("gpu", "parent", "target", "params", "elapsed")


@dataclass(frozen=True)
class Column:
    name: str           # also the sort name
    title: str
    width: int
    right: bool = False


@dataclass(frozen=True)
class Widths:
    """Natural widths of the variable columns, measured over the rows shown."""

    id: int = 2
    name: int = 4
    parent: int = 0      # 0: no run shown has a parent
    target: int = 6
    params: int = 0      # 0: no param differs
    metric: str | None = None
    gpu: bool = False


def measure(shown: list[tuple[RunRow, int]], params, metric: str | None,
            gpu: bool, heads: dict | None = None) -> Widths:
    """Natural widths over the rows shown (a sample of them past 3,000: cheap at 10,000)."""
    rows = shown if len(shown) <= 3000 else shown[:1500] + shown[-1500:]
    parents = [len(f"←{r.parent}") for r, _ in rows if r.parent is not None]
    heads = heads or {}
    return Widths(
        id=max([len(str(r.id)) for r, _ in rows] + [3]),
        name=max([len(name_text(r, d, heads.get(r.id))) for r, d in rows] + [4]),
        parent=max(parents + [4]) if parents else 0,
        target=max([len(target_text(r)) for r, _ in rows] + [6]),
        params=max([len(params_text(r, params)) for r, _ in rows] + [0]) if params else 0,
        metric=metric, gpu=gpu and any(r.gpu_ids for r, _ in rows))


def layout(width: int, w: Widths) -> list[Column]:
    fixed = {"mark": 2, "id": w.id, "parent": w.parent, "target": w.target,
             "elapsed": ELAPSED_WIDTH, "metric": METRIC_VALUE_WIDTH + 1 + SPARK_WIDTH,
             "gpu": GPU_WIDTH}
    wanted = ["mark", "id", "name", "parent", "target", "elapsed", "params", "metric", "gpu"]
    present = [c for c in wanted if not (
        (c == "parent" and not w.parent) or (c == "params" and not w.params)
        or (c == "metric" and not w.metric) or (c == "gpu" and not w.gpu))]

    def needed(cols):
        mins = {"name": 6, "params": min(w.params, 10)}
        return sum(fixed.get(c, mins.get(c, 0)) for c in cols) + len(cols) - 1

    for victim in DROP_ORDER:
        if needed(present) <= width:
            break
        if victim in present:
            present.remove(victim)
    # What is left is shared by name and params (the separator between them is counted).
    room = width - sum(fixed[c] for c in present if c in fixed) - (len(present) - 1)
    name_width = min(max(w.name, 4), NAME_MAX)
    params_width = 0
    if "params" in present:
        name_width = max(min(name_width, 8), min(name_width, room - min(w.params, 10)))
        params_width = min(w.params, PARAMS_MAX, room - name_width)
        if params_width < 6:
            present.remove("params")
            room += 1
            params_width = 0
    name_width = max(4, min(name_width, room - params_width))
    titles = {"mark": "", "id": "ID", "name": "NAME", "parent": "FROM", "target": "TARGET",
              "elapsed": "ELAPSED", "params": "PARAMS", "metric": (w.metric or "").upper(),
              "gpu": "GPU"}
    widths = {**fixed, "name": name_width, "params": params_width}
    right = {"id", "elapsed"}
    return [Column(c, titles[c], widths[c], c in right) for c in present]


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    values = [v for v in values if v == v][-width:]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = high - low
    if span == 0:
        return SPARKS[3] * len(values)
    return "".join(SPARKS[min(7, int((v - low) / span * 7.999))] for v in values)


def plain(text: str) -> str:
    """User-given text (names, params, tags) with every control character removed."""
    return clean_line(text, keep_sgr=False).replace("\t", " ")


def params_text(row: RunRow, keys) -> str:
    return plain(" ".join(f"{k}={_param(row.params[k])}" for k in keys if k in row.params))


def _param(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return formatting.number(value)
    return str(value)


def target_text(row: RunRow) -> str:
    return plain(row.target) + (":" + ",".join(map(str, row.gpu_ids)) if row.gpu_ids else "")


def metric_text(row: RunRow, metric: str | None) -> str:
    if metric is None or metric not in row.metrics:
        return ""
    return formatting.number(row.metrics[metric])


def gpu_text(figures: list[dict]) -> str:
    """`87% 12.3G`: mean utilisation and memory used over the run's GPUs."""
    utils = [g["utilization_pct"] for g in figures if g.get("utilization_pct") is not None]
    memory = [g["memory_used_mb"] for g in figures if g.get("memory_used_mb") is not None]
    if not utils and not memory:
        return ""
    util = f"{sum(utils) / len(utils):.0f}%" if utils else "-"
    mem = f"{sum(memory) / 1024:.1f}G" if memory else "-"
    return f"{util} {mem}"


def mark_text(row: RunRow, marked: bool) -> str:
    return ("●" if marked else " ") + STATE_GLYPHS[row.state]


def name_text(row: RunRow, depth: int, head=None) -> str:
    """The name, indented under its group; a group's first row says whether it is folded."""
    if head is not None:
        return ("▸ " if head.folded else "▾ ") + plain(row.name) + \
            (f" +{head.size - 1}" if head.folded else "")
    return ("  " * (depth - 1) + "└ " if depth else "") + plain(row.name)
