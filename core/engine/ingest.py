"""Metrics without an SDK: numbers read from a run's output lines and its metrics file.

Read from output lines:
- `key=value` and `key: value` pairs (`loss=0.31 acc=0.91`, `val/loss: 0.2`, `lr=1e-3`);
- a line that is a JSON object (`{"loss": 0.3, "step": 10}`);
- the config's `[metrics] patterns`: regexes with groups `key` and `value`, or a group
  named after the metric (`(?P<acc>[0-9.]+)%`).
Read from `$RUNYARD_METRICS`: one JSON object per line; numeric values are metrics.

`step` sets the step of the other values on its line and of later lines without one;
before any `step` appears, each metric counts its own steps from 0. For a line rewritten
with carriage returns (a progress bar), only its final text counts.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field

from core.store.queries import json_number

_NUMBER = r"[-+]?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?|nan|NaN|inf|Inf)"
_PAIR = re.compile(r"(?<![\w./\-\"'])([A-Za-z_][\w./\-]*?)\s*[=:]\s*(" + _NUMBER + r")(?=$|[\s,;|)\]}])")
_ESCAPES = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[P^_X][^\x1b]*(?:\x1b\\)?|[@-Z\\-_])")
STEP_KEY = "step"
MAX_LINE = 1024 * 1024          # longer lines are skipped for metrics (the log keeps them)
READ_CHUNK = 8 * 1024 * 1024    # at most this much of a file per poll


def _number(text: str) -> float:
    return float(text)


def _numeric(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class LineParser:
    """Turns one line of output into {metric: value}."""

    def __init__(self, patterns=()):
        self.patterns = [re.compile(p) for p in patterns]

    def parse(self, raw: bytes) -> dict[str, float]:
        segments = [s for s in raw.split(b"\r") if s.strip()]
        if not segments:
            return {}
        text = _ESCAPES.sub(b"", segments[-1]).decode("utf-8", "replace").strip()
        if not text:
            return {}
        found: dict[str, float] = {}
        if text.startswith("{") and text.endswith("}"):
            found.update(parse_json_object(text))
        else:
            for key, value in _PAIR.findall(text):
                found[key] = _number(value)
        for pattern in self.patterns:
            for match in pattern.finditer(text):
                groups = match.groupdict()
                if "key" in groups and "value" in groups:
                    try:
                        found[groups["key"]] = float(groups["value"])
                    except (TypeError, ValueError):
                        continue
                else:
                    for name, value in groups.items():
                        try:
                            found[name] = float(value)
                        except (TypeError, ValueError):
                            continue
        return found


def parse_json_object(text: str) -> dict[str, float]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in ((k, _numeric(v)) for k, v in data.items()) if v is not None}


@dataclass
class IngestState:
    """Where ingest stopped; stored with the metrics so a restart neither skips nor repeats."""

    log_offset: int = 0
    log_skipping: bool = False         # inside an over-long line: skip to its end
    file_offset: int = 0
    step: int | None = None            # the last explicit step seen
    counters: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"log_offset": self.log_offset, "log_skipping": self.log_skipping,
                "file_offset": self.file_offset, "step": self.step, "counters": self.counters}

    @classmethod
    def from_dict(cls, data: dict) -> "IngestState":
        return cls(**{k: data[k] for k in ("log_offset", "log_skipping", "file_offset", "step",
                                            "counters") if k in data})


class Ingestor:
    """Reads what is new in a run's output.log and metrics.jsonl and returns metric points."""

    def __init__(self, log_path, metrics_path, patterns=(), state: IngestState | None = None):
        self.log_path = log_path
        self.metrics_path = metrics_path
        self.parser = LineParser(patterns)
        self.state = state or IngestState()

    def poll(self) -> list[tuple[str, int, float | None]]:
        """New points as (key, step, value); value None stands for NaN."""
        rows: list = []
        lines, self.state.log_offset, self.state.log_skipping = _read_lines(
            self.log_path, self.state.log_offset, self.state.log_skipping)
        for line in lines:
            self._add(self.parser.parse(line), rows)
        lines, self.state.file_offset, _ = _read_lines(self.metrics_path, self.state.file_offset,
                                                       False)
        for line in lines:
            self._add(parse_json_object(line.decode("utf-8", "replace")), rows)
        return rows

    def _add(self, values: dict[str, float], rows: list) -> None:
        if not values:
            return
        step_value = values.pop(STEP_KEY, None)
        if step_value is not None and math.isfinite(step_value):
            self.state.step = int(step_value)
        for key, value in values.items():
            if self.state.step is not None:
                step = self.state.step
            else:
                step = self.state.counters.get(key, 0)
                self.state.counters[key] = step + 1
            rows.append((key, step, None if math.isnan(value) else value))


def _read_lines(path, offset: int, skipping: bool) -> tuple[list[bytes], int, bool]:
    """Complete lines after `offset`, the offset after the last one, and the skip flag."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= offset:
                return [], min(offset, size), skipping
            handle.seek(offset)
            data = handle.read(READ_CHUNK)
    except FileNotFoundError:
        return [], offset, skipping
    end = data.rfind(b"\n")
    if end < 0:
        if len(data) > MAX_LINE or skipping:
            return [], offset + len(data), True        # an over-long line: drop what we have
        return [], offset, False
    lines = data[:end].split(b"\n")
    if skipping:
        lines = lines[1:]                               # the tail of the over-long line
    lines = [line for line in lines if len(line) <= MAX_LINE]
    return lines, offset + end + 1, False


def latest_values(current: dict, rows) -> dict:
    """The run's latest value per metric (JSON-safe), after adding `rows`."""
    latest = dict(current)
    for key, _step, value in rows:
        latest[key] = json_number(math.nan if value is None else value)
    return latest
