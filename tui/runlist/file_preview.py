"""What the app shows of a file a run wrote: text lines or CSV rows, bounded and made safe.

A run's files are untrusted: at most MAX_BYTES are read, a file with a NUL byte near its
start counts as binary (only its size is shown), every line or cell goes through
core.textsafe (no escape sequence reaches the terminal, carriage returns act like one),
and a CSV shows at most MAX_ROWS rows and MAX_COLUMNS columns of cells cut at MAX_CELL.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from core.textsafe import clean_line

MAX_BYTES = 1024 * 1024
MAX_LINES = 5000
MAX_ROWS = 2000
MAX_COLUMNS = 50
MAX_CELL = 200
TABLES = {".csv": ",", ".tsv": "\t"}


@dataclass
class Preview:
    kind: str                       # text, table, binary
    size: int
    lines: list[str] = field(default_factory=list)          # text
    rows: list[list[str]] = field(default_factory=list)     # table: the header first
    cut: str = ""                   # what was left out, in words


def read(path: Path) -> Preview:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        data = handle.read(MAX_BYTES)
    if b"\0" in data[:8192]:
        return Preview("binary", size)
    text = data.decode("utf-8", "replace")
    cut = f"the first {MAX_BYTES // 1024} KB of {size} bytes" if size > len(data) else ""
    delimiter = TABLES.get(path.suffix.lower())
    if delimiter is not None:
        return _table(text, delimiter, size, cut)
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        cut = cut or f"the first {MAX_LINES} lines of {len(lines)}"
        lines = lines[:MAX_LINES]
    return Preview("text", size, lines=[clean_line(line, keep_sgr=False) for line in lines],
                   cut=cut)


def _table(text: str, delimiter: str, size: int, cut: str) -> Preview:
    rows = []
    widest = 0
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter)):
            if number >= MAX_ROWS:
                cut = cut or f"the first {MAX_ROWS} rows"
                break
            widest = max(widest, len(row))
            rows.append([_cell(c) for c in row[:MAX_COLUMNS]])
    except csv.Error as exc:           # not CSV after all: show it as text
        lines = [clean_line(line, keep_sgr=False) for line in text.splitlines()[:MAX_LINES]]
        return Preview("text", size, lines=lines, cut=f"not read as a table ({exc})")
    if widest > MAX_COLUMNS:
        cut = (cut + "; " if cut else "") + f"the first {MAX_COLUMNS} of {widest} columns"
    width = min(widest, MAX_COLUMNS)
    return Preview("table", size, rows=[r + [""] * (width - len(r)) for r in rows], cut=cut)


def _cell(text: str) -> str:
    shown = clean_line(text.replace("\n", " ").replace("\r", " "), keep_sgr=False)
    return shown if len(shown) <= MAX_CELL else shown[:MAX_CELL - 1] + "…"
