"""`key=value` and `key: value` pairs anywhere in a line, and lines led by their step.

`loss=0.31 acc=0.91`, `val/loss: 0.2`, `lr = 1e-3`; a `step` (or `global_step`) pair sets
the step of its line and of later lines. A line led by its step, `Step 100: loss 0.45`,
`Iteration 7 loss=0.3` or `epoch 3/10 - loss: 0.4 - acc: 0.81` (an epoch counts as the step
when the number stands alone: `epoch 3 done: ...` does not), also takes `key value` pairs.

Not metrics: a number glued to a unit (`0.66s`, `25.1it/s`, `93%`) or followed by a unit
word (`took: 3 seconds`, `using: 0 TPU cores`), a time of day (`12:30:01`), parts of paths
and URLs (`http://host:80`).
"""

from __future__ import annotations

import re

from core.metrics.numbers import NUMBER
from core.metrics.reading import Reading

STEP_KEYS = ("step", "global_step")
_UNIT_WORDS = (r"(?:s|secs?|seconds?|ms|us|µs|ns|mins?|minutes?|h|hrs?|hours?|days?|%|"
               r"it/s|s/it|[kKMGT]i?B|B|bytes|samples|tokens|examples|items|cores?|"
               r"[CGTHIN]PUs?|threads?|workers?|files?|rows|columns|features)")
_KEY = r"[A-Za-z_][\w./\-]*?"
_END = r"(?=$|[\s,;|)\]}])(?!\s+" + _UNIT_WORDS + r"(?![\w/]))"
PAIR = re.compile(r"(?<![\w./\-\"'])(" + _KEY + r")\s*[=:]\s*(" + NUMBER + ")" + _END)
# After a leading step: `loss 0.45` too.
_LOOSE_PAIR = re.compile(r"(?<![\w./\-\"'])(" + _KEY + r")(?:\s*[=:]\s*|\s+)(" + NUMBER + ")"
                         + _END)
_LEADING_STEP = re.compile(
    r"(?:step|iter|iteration)\s+(\d+)(?:\s*/\s*\d+)?(?![\w.])[\s:,|\-]*"
    r"|epoch\s+(\d+)(?:\s*/\s*\d+)?(?=\s*(?:$|[:,|]|-\s))[\s:,|\-]*", re.I)


LEADING_STEP = _LEADING_STEP.match


class KeyValue:
    name = "keyvalue"
    starts = None                # the fallback: every line no other reader claimed

    def read(self, text: str, segment, state: dict) -> Reading | None:
        lead = _LEADING_STEP.match(text)
        if lead is not None:
            pairs = _LOOSE_PAIR.findall(text, lead.end())
            step = lead.group(1) or lead.group(2)
            values = dict(pairs)
            if not values:
                return Reading(step=step, holds=True)
        else:
            pairs = PAIR.findall(text)
            if not pairs:
                return None
            values = dict(pairs)
            step = None
        for key in STEP_KEYS:
            if key in values:
                step = values.pop(key)
        return Reading(values, step=step, holds=step is not None)
