"""The rules a run's output is read with: the user's patterns, readers switched off, names
left out (`[metrics]` in the config; kept with each run, so a run is read as launched
unless `tui metrics --reparse` applies newer rules)."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from core.metrics import patterns as user_patterns
from core.metrics.readers import NAMES as READER_NAMES


@dataclass(frozen=True)
class MetricRules:
    patterns: tuple[str, ...] = ()       # regexes (core.metrics.patterns)
    disable: tuple[str, ...] = ()        # built-in readers switched off (READER_NAMES)
    ignore: tuple[str, ...] = ()         # metric names never stored: globs (`v_num`, `*_time`)

    def to_options(self) -> dict:
        return {"metric_patterns": list(self.patterns), "metric_disable": list(self.disable),
                "metric_ignore": list(self.ignore)}

    @classmethod
    def from_options(cls, options: dict) -> "MetricRules":
        return cls(patterns=tuple(options.get("metric_patterns") or ()),
                   disable=tuple(options.get("metric_disable") or ()),
                   ignore=tuple(options.get("metric_ignore") or ()))

    def ignored_names(self):
        """A test for names to leave out, or None when every name is kept."""
        if not self.ignore:
            return None
        compiled = re.compile("|".join(fnmatch.translate(glob) for glob in self.ignore))
        return compiled.match


def check_pattern(text: str) -> str | None:
    """What a `[metrics] patterns` entry should have been, or None when it is fine."""
    return user_patterns.check(text)


def check_reader(name: str) -> str | None:
    """What a `[metrics] disable` entry should have been, or None when it names a reader."""
    if name in READER_NAMES:
        return None
    return "one of " + ", ".join(READER_NAMES)
