"""What a reader makes of one line of output, before steps are given out (core.metrics.parser).

A reader returns None for a line that is not its own, or a Reading: the values it found
(possibly none: a library's log line that holds no metric is claimed so that nothing else
invents one from it) and how their step is decided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# How the step of a reading's values is decided (core.metrics.parser gives them out).
USUAL = "usual"          # `step` when given, else the step in force, else per-metric counters
BAR = "bar"              # a progress bar's redraw: the values that changed, at the next redraw
AFTER_BAR = "after_bar"  # a trainer's log dict: the count of the progress bar drawn next


@dataclass(slots=True)
class Reading:
    values: dict = field(default_factory=dict)   # name -> number (text as printed, or float)
    step: object = None          # the step printed on the line (text or int), or None
    holds: bool = False          # the step also holds for later lines (`step=`, `Epoch 3/10`)
    mode: str = USUAL
    bar: str = ""                # BAR: which bar (its description, digits left out)
    count: int | None = None     # BAR: the bar's count, the `12` of `12/500`


@dataclass(slots=True)
class Segment:
    """Where a line's text sits: `ends_line` is False for a redraw ended by a carriage return."""

    ends_line: bool


NOTHING = Reading()              # a claimed line with no metric (shared: never mutated)


def tab_separated(line: str, item: re.Pattern, spread_suffix: str) -> Reading:
    """`[10]\tA\tB ...` as XGBoost and LightGBM print it: each item that `item` matches
    gives `DATA/METRIC` (its groups 1 and 2) = group 3, and a cross-validation spread (group
    4, when printed) as `DATA/METRIC` + `spread_suffix`; the step is the bracketed number."""
    head, _, rest = line.partition("\t")
    values = {}
    for text in rest.split("\t"):
        found = item.match(text.strip())
        if found is None:
            continue
        name = f"{found.group(1)}/{found.group(2)}"
        values[name] = found.group(3)
        if found.group(4) is not None:
            values[name + spread_suffix] = found.group(4)
    return Reading(values, step=head[1:-1])
