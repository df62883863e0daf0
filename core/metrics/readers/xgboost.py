"""XGBoost's evaluation lines: `[10]\ttrain-logloss:0.45\teval-logloss:0.47`.

Each `DATA-METRIC:VALUE` gives `DATA/METRIC` (`train/logloss`, `eval/auc`,
`validation_0/error@0.6`) at the printed iteration (`[10]`: step 10; with
`verbose_eval=5` that is 0, 5, 10, ... and the last). `xgb.cv` prints `mean+std`: the mean
is `DATA/METRIC`, the deviation `DATA/METRIC-std` (as in its result table). The data name
ends at the first `-`. XGBoost's own `[12:30:01] WARNING: ...` lines are claimed and give
nothing.
"""

from __future__ import annotations

import re

from core.metrics.numbers import NUMBER
from core.metrics.reading import NOTHING, Reading, tab_separated

_ITEM = re.compile(r"([^\t:\-]{1,200}+)-([^\t:]{1,200}+):(" + NUMBER + r")(?:\+(" + NUMBER
                   + r"))?$")


class XGBoost:
    name = "xgboost"
    starts = r"\[\d+\]\t[^\t:]+-[^\t]*:|\[\d\d:\d\d:\d\d\] (?:WARNING|INFO|DEBUG):"

    def read(self, text: str, segment, state: dict) -> Reading | None:
        if text[1] not in "0123456789" or "]\t" not in text:
            return NOTHING
        return tab_separated(text, _ITEM, "-std")
