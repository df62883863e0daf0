"""tqdm progress bars, also as PyTorch Lightning and the Hugging Face Trainer draw them.

`Epoch 0:  50%|█████     | 16/32 [00:00<00:00, 40.00it/s, v_num=0, train_loss=0.512]`,
`loss=0.3:  12%|#2   | 12/100 [00:01<00:09, 9.6it/s]`, `120it [00:01, 99.1it/s, loss=0.5]`.
The `key=value` pairs of the postfix (and of the description) are metrics; the count, the
percentage, times, the rate and Lightning's `v_num` (its log folder's version) are not.
Each redraw that changes a value adds one point per changed value (see the parser); the
bar's count is kept for a Trainer log printed just before it (core.metrics.readers.dicts).
"""

from __future__ import annotations

import re

from core.metrics.reading import BAR, Reading
from core.metrics.readers.keyvalue import PAIR, STEP_KEYS

NOT_METRICS = frozenset({"v_num"})
MAX_VALUES = 100                 # values read from one redraw
# `12/100 [00:01<00:09, 9.6it/s, loss=0.3]`: count, total, elapsed time, then the rest.
# Repeats are bounded and possessive (`{0,40}+`: no backtracking into them), so that a
# hostile line cannot make the search quadratic.
_COUNTS = re.compile(
    r"(?<![\d.])(\d{1,19}+(?:\.\d{1,9}+)?[kMGTPEZY]?)(?:/(?:\d{1,19}+(?:\.\d{1,9}+)?"
    r"[kMGTPEZY]?|\?))?[A-Za-z/]{0,20}+\s?\[(?:\d{1,9}+:)?\d\d:\d\d(?:<[^,\]]{0,40}+)?"
    r"([^\]]{0,4000}+)\]")
_PERCENT_BAR = re.compile(r"\s*+\d{1,3}+%\|[^|]{0,400}+\|\s*+$")
_DIGITS = re.compile(r"\d+")


def looks_like_bar(text: str) -> bool:
    """A cheap test before the real one: tqdm's bars have `|` or an `it [` rate."""
    return "[" in text and ("|" in text or "it [" in text)


class Progress:
    name = "progress"
    starts = None                # found anywhere in a line (see looks_like_bar)

    def read(self, text: str, segment, state: dict) -> Reading | None:
        found = _COUNTS.search(text)
        if found is None:
            return None
        desc = _PERCENT_BAR.sub("", text[:found.start()]).rstrip().rstrip(":")
        values = {k: v for k, v in PAIR.findall(found.group(2))[:MAX_VALUES]
                  if k not in NOT_METRICS}
        for key, value in PAIR.findall(desc):
            values.setdefault(key, value)
        step = None
        for key in STEP_KEYS:
            if key in values:
                step = values.pop(key)
        count = found.group(1)
        return Reading(values, step=step, mode=BAR, bar=_DIGITS.sub("#", desc)[:200],
                       count=int(count) if count.isdigit() else None)
