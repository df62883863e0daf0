"""The user's own `[metrics] patterns`: regexes with named groups, run with a time limit.

A pattern names its metrics in one of two ways:
- groups `key` and `value`: `(?P<key>\\w+) -> (?P<value>[0-9.eE+-]+)`;
- a group named after the metric: `accuracy (?P<acc>[0-9.]+)%`.
Either way a `step` group sets the step of the line and of later lines (as `step=` does),
and a `prefix` group is put before each name with a `/`: `(?P<prefix>train|val) acc
(?P<acc>[0-9.]+)` gives `train/acc` or `val/acc`. A pattern that runs longer than
TIMEOUT on one line is switched off for the rest of the run (core.metrics.parser says so
on the run).
"""

from __future__ import annotations

from core import userregex
from core.metrics.reading import Reading

TIMEOUT = 0.1                    # seconds one pattern may take on one line
SPECIAL_GROUPS = ("key", "value", "step", "prefix")


def check(text: str) -> str | None:
    """What is wrong with a pattern, or None."""
    try:
        compiled = userregex.compile_pattern(text)
    except ValueError as exc:
        return f"a regular expression ({exc})"
    names = set(compiled.groupindex)
    if not names - {"step", "prefix"}:
        return ("a regular expression with named groups, (?P<key>..) and (?P<value>..) or "
                "(?P<metric_name>..)")
    if ("key" in names) != ("value" in names):
        return "both groups (?P<key>..) and (?P<value>..), or neither"
    return None


class UserPattern:
    def __init__(self, text: str):
        self.text = text
        self.compiled = userregex.compile_pattern(text)
        names = set(self.compiled.groupindex)
        self.pairs = "key" in names and "value" in names
        self.metrics = [n for n in self.compiled.groupindex if n not in SPECIAL_GROUPS]

    def read(self, text: str) -> Reading | None:
        """The values of every match in the line; raises userregex.PatternTimeout."""
        values: dict = {}
        step = None
        for match in userregex.finditer(self.compiled, text, TIMEOUT):
            groups = match.groupdict()
            prefix = groups.get("prefix")
            prefix = f"{prefix}/" if prefix else ""
            if groups.get("step") is not None:
                step = groups["step"]
            if self.pairs and groups["key"] and groups["value"] is not None:
                values[prefix + groups["key"]] = groups["value"]
            for name in self.metrics:
                if groups.get(name) is not None:
                    values[prefix + name] = groups[name]
        if not values and step is None:
            return None
        return Reading(values, step=step, holds=step is not None)
