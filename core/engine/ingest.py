"""Metric ingest: following a run's output.log and metrics.jsonl, and reading them from zero.

The files are read by byte offset, at most READ_CHUNK per call, and cut after the last
newline or carriage return, so each redraw of a progress bar is read as soon as it is
drawn (core.metrics.parser turns the text into points). Where ingest stopped is stored
with the points it gave (one transaction), so a restarted engine neither skips nor
repeats a line. A line with no end is waited for, unless it grows past MAX_LINE: then it
is skipped to its end. When the run has ended (`final`), the unfinished last line counts.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from core.metrics.parser import OutputParser
from core.metrics.rules import MetricRules
from core.store.queries import json_number

MAX_LINE = 1024 * 1024          # longer lines are skipped for metrics (the log keeps them)
READ_CHUNK = 8 * 1024 * 1024    # at most this much of a file per call


@dataclass
class IngestState:
    """Where ingest stopped; stored with the metrics so a restart neither skips nor repeats."""

    log_offset: int = 0
    log_skipping: bool = False         # inside an over-long line: skip to its end
    file_offset: int = 0
    output: dict = field(default_factory=dict)     # the output parser's state
    metrics_file: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"log_offset": self.log_offset, "log_skipping": self.log_skipping,
                "file_offset": self.file_offset, "output": self.output,
                "metrics_file": self.metrics_file}

    @classmethod
    def from_dict(cls, data: dict) -> "IngestState":
        state = cls(log_offset=data.get("log_offset", 0),
                    log_skipping=data.get("log_skipping", False),
                    file_offset=data.get("file_offset", 0),
                    output=data.get("output") or {}, metrics_file=data.get("metrics_file") or {})
        if "output" not in data and ("step" in data or "counters" in data):
            # Written by an engine before per-library readers: one step for both files.
            old = {"step": data.get("step"), "counters": data.get("counters") or {}}
            state.output, state.metrics_file = dict(old), dict(old)
        return state


@dataclass
class Batch:
    rows: list                  # (name, step, value); value None stands for NaN
    warnings: list[str]         # what was skipped, said once per kind and run
    more: bool                  # a file had more to read than one call takes
    state: dict                 # IngestState.to_dict() just after these rows


class Ingestor:
    """Reads what is new in a run's output.log and metrics.jsonl and returns metric points."""

    def __init__(self, log_path, metrics_path, rules: MetricRules = MetricRules(),
                 state: IngestState | None = None):
        self.log_path = log_path
        self.metrics_path = metrics_path
        self.state = state or IngestState()
        self.output = OutputParser(rules, self.state.output)
        self.metrics_file = OutputParser(rules, self.state.metrics_file, json_only=True)

    def poll(self, final: bool = False) -> Batch:
        """New points; with `final` (the run has ended) an unfinished last line counts too."""
        state = self.state
        text, state.log_offset, state.log_skipping, more_log = _read_complete(
            self.log_path, state.log_offset, state.log_skipping, final)
        rows = self.output.feed(text) if text else []
        text, state.file_offset, _, more_file = _read_complete(
            self.metrics_path, state.file_offset, False, final)
        if text:
            rows.extend(self.metrics_file.feed(text))
        more = more_log or more_file
        if final and not more:
            rows.extend(self.output.finish())
            rows.extend(self.metrics_file.finish())
        state.output = self.output.snapshot()
        state.metrics_file = self.metrics_file.snapshot()
        return Batch(rows, self.output.take_warnings() + self.metrics_file.take_warnings(),
                     more, state.to_dict())


def _read_complete(path, offset: int, skipping: bool, final: bool) -> tuple[str, int, bool, bool]:
    """The complete lines and redraws after `offset` (decoded), the offset after them, the
    skip flag, and whether the file holds more than this call read."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= offset:
                return "", min(offset, size), skipping, False
            handle.seek(offset)
            data = handle.read(READ_CHUNK)
    except FileNotFoundError:
        return "", offset, skipping, False
    more = offset + len(data) < size
    end = max(data.rfind(b"\n"), data.rfind(b"\r"))
    if final and not more:
        end = len(data) - 1 if not skipping else end     # the last line, unfinished
    if end < 0:
        if len(data) > MAX_LINE or skipping:
            return "", offset + len(data), True, more    # an over-long line: drop what we have
        return "", offset, False, more
    body = data[:end + 1]
    if skipping:
        cut = min((i for i in (body.find(b"\n"), body.find(b"\r")) if i >= 0), default=end)
        body = body[cut + 1:]                             # the tail of the over-long line
    if final and not more and not body.endswith((b"\n", b"\r")):
        body += b"\n"
    return body.decode("utf-8", "replace"), offset + end + 1, False, more


def latest_values(current: dict, rows) -> dict:
    """The run's latest value per metric (JSON-safe), after adding `rows`."""
    last = {key: value for key, _step, value in rows}
    return {**current, **{key: json_number(math.nan if value is None else value)
                          for key, value in last.items()}}
