"""LightGBM's evaluation lines and its own log lines.

`[10]\ttraining's binary_logloss: 0.3\tvalid_1's binary_logloss: 0.4` gives
`training/binary_logloss` and `valid_1/binary_logloss` at the printed iteration (step 10;
LightGBM counts from 1). `lgb.cv` prints `mean + stdv`: `valid/binary_logloss` and
`valid/binary_logloss-stdv` (as in its result table). The best iteration repeated after
early stopping is the same points again. `[LightGBM] [Info] ...` (`Number of positive:
741`, `pavg=0.5 -> initscore=0.1`), `[LightGBM] [Warning] ...` and the early-stopping
notices give nothing.
"""

from __future__ import annotations

import re

from core.metrics.numbers import NUMBER
from core.metrics.reading import NOTHING, Reading, tab_separated

_ITEM = re.compile(r"([^\t']{1,200}+)'s ([^\t:]{1,200}+): (" + NUMBER + r")(?: \+ (" + NUMBER
                   + r"))?$")


class LightGBM:
    name = "lightgbm"
    starts = (r"\[LightGBM\] |\[\d+\]\t[^\t]*'s |Training until validation scores don't "
              r"improve|Early stopping, best iteration is|Did not meet early stopping"
              r"|You can set `force_(?:col|row)_wise")

    def read(self, text: str, segment, state: dict) -> Reading | None:
        if not text.startswith("[") or text.startswith("[LightGBM]"):
            return NOTHING
        return tab_separated(text, _ITEM, "-stdv")
