"""The run list's columns: which fit in the width at hand, and the text of each cell.

After the fixed columns (state, id, name, parent, target, elapsed) come the results
columns (tui.runlist.results: the params that differ and the metrics the runs share, or
the user's choice), the main metric's sparkline and live GPU figures. Columns give way
in a fixed order as the pane narrows (GPU figures first, then the parent, target,
sparkline, metrics but the main one, params, elapsed time); state, id, name and the main
metric always stay, so a 40-column tmux pane still shows a useful list.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.textsafe import inline
from tui import formatting
from tui.formatting import STATE_GLYPHS
from tui.runlist.results import ResultColumn
from tui.runlist.rows import RunRow

SPARKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 6
GPU_WIDTH = 10
ELAPSED_WIDTH = 7
NAME_MAX = 28
NAME_MIN = 6
RESULT_MAX = 24          # a long param value is cut with …
BEST_MARK = "*"          # after the best value of a metric column (also bold: not colour only)


@dataclass(frozen=True)
class Column:
    name: str                       # the sort name: id, state... or a results column's name
    title: str
    width: int
    right: bool = False
    result: ResultColumn | None = None


@dataclass(frozen=True)
class Widths:
    """Natural widths of the variable columns, measured over the rows shown."""

    id: int = 2
    name: int = 4
    parent: int = 0      # 0: no run shown has a parent
    target: int = 6
    results: tuple[tuple[ResultColumn, int], ...] = ()
    main: str | None = None          # the results column with the sparkline (a metric)
    gpu: bool = False


def measure(shown: list[tuple[RunRow, int]], results: list[ResultColumn], result_widths,
            main: str | None, gpu: bool, name_of=None) -> Widths:
    """Natural widths over the rows shown (a sample of them past 3,000: cheap at 10,000).
    `result_widths` gives each results column's width, already measured; `name_of(row,
    depth)` the name cell's text (a folded group's says more)."""
    rows = sample(shown)
    parents = [len(f"←{r.parent}") for r, _ in rows if r.parent is not None]
    name_of = name_of or (lambda row, depth: name_text(row, depth))
    return Widths(
        id=max([len(str(r.id)) for r, _ in rows] + [3]),
        name=max([len(name_of(r, d)) for r, d in rows] + [4]),
        parent=max(parents + [4]) if parents else 0,
        target=max([len(target_text(r)) for r, _ in rows] + [6]),
        results=tuple((c, min(RESULT_MAX, result_widths[c.name])) for c in results),
        main=main, gpu=gpu and any(r.gpu_ids for r, _ in rows))


def sample(shown: list) -> list:
    """The rows measured for widths and decimal alignment."""
    return shown if len(shown) <= 3000 else shown[:1500] + shown[-1500:]


def layout(width: int, w: Widths) -> list[Column]:
    fixed = {"mark": 2, "id": w.id, "parent": w.parent, "target": w.target,
             "elapsed": ELAPSED_WIDTH, "spark": SPARK_WIDTH, "gpu": GPU_WIDTH}
    fixed.update({c.name: size for c, size in w.results})
    results = [c.name for c, _ in w.results]
    metrics = [c.name for c, _ in w.results if c.is_metric]
    wanted = ["mark", "id", "name", "parent", "target", "elapsed"]
    for name in results:
        wanted.append(name)
        if name == w.main:
            wanted.append("spark")
    wanted.append("gpu")
    present = [c for c in wanted if not (
        (c == "parent" and not w.parent) or (c == "gpu" and not w.gpu))]
    others = [m for m in metrics if m != w.main]
    params = [c for c in results if c not in metrics]
    drop = ["gpu", "parent", "target", "spark", *others[::-1], *params[::-1], "elapsed"]

    def needed(cols):
        return sum(fixed.get(c, NAME_MIN) for c in cols) + len(cols) - 1

    for victim in drop:
        if needed(present) <= width:
            break
        if victim in present:
            present.remove(victim)
    room = width - sum(fixed[c] for c in present if c in fixed) - (len(present) - 1)
    name_width = max(4, min(max(w.name, 4), NAME_MAX, room))
    titles = {"mark": "", "id": "ID", "name": "NAME", "parent": "FROM", "target": "TARGET",
              "elapsed": "ELAPSED", "spark": "", "gpu": "GPU"}
    by_name = {c.name: c for c, _ in w.results}
    out = []
    for name in present:
        result = by_name.get(name)
        if result is not None:
            out.append(Column(name, plain(result.name), fixed[name], True, result))
        else:
            out.append(Column(name, titles[name], name_width if name == "name" else fixed[name],
                              name in ("id", "elapsed")))
    return out


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
    """User-given text (names, params, tags) as one safe line (core.textsafe.inline): no
    control sequence, a line break or other control character shown as an escape; a tab
    is a space."""
    return inline(text.replace("\t", " "))


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


def gpu_text(figures: list[dict]) -> str:
    """`87% 12.3G`: mean utilisation and memory used over the run's GPUs."""
    utils = [g["utilization_pct"] for g in figures if g.get("utilization_pct") is not None]
    memory = [g["memory_used_mb"] for g in figures if g.get("memory_used_mb") is not None]
    if not utils and not memory:
        return ""
    util = f"{sum(utils) / len(utils):.0f}%" if utils else "-"
    mem = f"{sum(memory) / 1024:.1f}G" if memory else "-"
    return f"{util} {mem}"


def mark_text(row: RunRow, marked: bool, state=None) -> str:
    """The mark and the state glyph (a folded group's: its worst active member's)."""
    return ("●" if marked else " ") + STATE_GLYPHS[(state or row.state).value]


def name_text(row: RunRow, depth: int, head=None, counts: str = "") -> str:
    """The name, indented under its group; a group's first row says whether it is folded,
    and folded, how many more runs it holds and (`counts`) how many are in each state."""
    if head is not None:
        return ("▸ " if head.folded else "▾ ") + plain(row.name) + \
            (f" +{head.size - 1}" + (f" {counts}" if counts else "") if head.folded else "")
    return ("  " * (depth - 1) + "└ " if depth else "") + plain(row.name)
